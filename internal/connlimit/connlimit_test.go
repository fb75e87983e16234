package connlimit

import "testing"

// TestClient: the addresses one party holds share a key, and nobody else's
// do: an IPv6 /64 is one client, an IPv4 address is one, a mapped IPv4
// address is its IPv4 address.
func TestClient(t *testing.T) {
	same := [][2]string{
		{"2001:db8::1", "2001:db8::ffff:1"},
		{"2001:db8:0:7:a:b:c:d", "2001:db8:0:7::1"},
		{"::ffff:10.0.0.1", "10.0.0.1"},
		{"10.0.0.1", "10.0.0.1"},
	}
	for _, p := range same {
		if Client(p[0]) != Client(p[1]) {
			t.Errorf("%s and %s are keyed %q and %q; want one client", p[0], p[1], Client(p[0]), Client(p[1]))
		}
	}
	apart := [][2]string{
		{"2001:db8::1", "2001:db8:0:1::1"},
		{"10.0.0.1", "10.0.0.2"},
		{"::1", "127.0.0.1"},
	}
	for _, p := range apart {
		if Client(p[0]) == Client(p[1]) {
			t.Errorf("%s and %s share the key %q; want two clients", p[0], p[1], Client(p[0]))
		}
	}
	if got := Client("unknown"); got != "unknown" {
		t.Errorf("a host that is no address: %q", got)
	}
}

// TestFileShareStaysUnderTheLimit: a door's total is its share of the open
// files, never all of them.
func TestFileShareStaysUnderTheLimit(t *testing.T) {
	n := openFileLimit()
	if n == 0 {
		if got := FileShare(0.4); got != 4096 {
			t.Fatalf("with the limit unknown: %d, want 4096", got)
		}
		return
	}
	if got, want := FileShare(0.4), max(n*2/5, 16); got != want {
		t.Fatalf("FileShare(0.4) = %d with %d open files allowed; want %d", got, n, want)
	}
}
