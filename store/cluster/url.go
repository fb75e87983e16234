package cluster

import (
	"fmt"
	"net"
	"strings"
)

// Target is a parsed --store URL.
type Target struct {
	Endpoints []string // host:port each, as clientv3 dials them (with scheme)
	Prefix    string   // the organization's key prefix, ending in "/"
	TLS       bool     // etcds://
}

// DefaultPrefix is the key prefix when the URL names none.
const DefaultPrefix = "/keydesk/"

// ParseURL reads etcd://h1:2379,h2:2379[/prefix] or etcds://… (TLS). A host
// without a port gets etcd's 2379.
func ParseURL(s string) (Target, error) {
	var t Target
	rest, ok := strings.CutPrefix(s, "etcd://")
	if !ok {
		if rest, ok = strings.CutPrefix(s, "etcds://"); !ok {
			return t, fmt.Errorf("--store %q: want etcd://host:2379[,host:2379…][/prefix] or etcds://… for TLS", s)
		}
		t.TLS = true
	}
	hosts, prefix, _ := strings.Cut(rest, "/")
	if hosts == "" {
		return t, fmt.Errorf("--store %q: no etcd host; want etcd://host:2379[/prefix]", s)
	}
	scheme := "http://"
	if t.TLS {
		scheme = "https://"
	}
	for _, h := range strings.Split(hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			return t, fmt.Errorf("--store %q: an empty host in the list", s)
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), "2379")
		}
		t.Endpoints = append(t.Endpoints, scheme+h)
	}
	t.Prefix = DefaultPrefix
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		if strings.ContainsAny(prefix, "?#") {
			return t, fmt.Errorf("--store %q: the prefix may not contain ? or #", s)
		}
		t.Prefix = "/" + prefix + "/"
	}
	return t, nil
}

// String is the URL back, for "serve" to print.
func (t Target) String() string {
	scheme := "etcd://"
	if t.TLS {
		scheme = "etcds://"
	}
	var hosts []string
	for _, e := range t.Endpoints {
		hosts = append(hosts, e[strings.Index(e, "://")+3:])
	}
	return scheme + strings.Join(hosts, ",") + strings.TrimSuffix(t.Prefix, "/")
}
