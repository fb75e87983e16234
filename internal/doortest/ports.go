package doortest

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
)

// FreePort finds a TCP port nothing listens on, on any address, below
// Linux's ephemeral range (32768–60999). A port taken from a
// 127.0.0.1:0 listener is in that range, so between the check and the
// server's own listen an outgoing connection (an etcd client, another
// test's listener) could take it: CI saw a `keydesk serve` of e2e/faults
// refuse to start with "already in use".
func FreePort() (int, error) {
	for range 100 {
		p := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err == nil {
			_ = l.Close()
			return p, nil
		}
	}
	return 0, errors.New("no free port between 20000 and 32000")
}

// FreeAddr is a FreePort on 127.0.0.1, as host:port.
func FreeAddr() (string, error) {
	p, err := FreePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), nil
}
