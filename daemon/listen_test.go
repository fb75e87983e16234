package daemon

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/charmbracelet/log"
	"github.com/keydesk/keydesk/store"
)

// TestAddressInUseSaysWhatToDo: serve on a port another program holds says
// so in one line naming the flag to change (it was Go's "listen tcp …: bind:
// address already in use").
func TestAddressInUseSaysWhatToDo(t *testing.T) {
	s, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	quiet := log.NewWithOptions(io.Discard, log.Options{})
	for _, c := range []struct {
		flag string
		cfg  Config
	}{
		{"--ssh-addr", Config{SSHAddr: addr, Logger: quiet}},
		{"--http-addr", Config{SSHAddr: "127.0.0.1:0", HTTPAddr: addr, Logger: quiet}},
	} {
		err := Serve(context.Background(), s, c.cfg)
		want := addr + " is already in use by another program (another keydesk serve?): stop it, or give " + c.flag + " another address"
		if err == nil || err.Error() != want {
			t.Errorf("%s taken: %v; want %q", c.flag, err, want)
		}
	}
	err = Serve(context.Background(), s, Config{SSHAddr: "nonsense", Logger: quiet})
	if err == nil || !strings.HasPrefix(err.Error(), "cannot listen on nonsense (--ssh-addr): ") || strings.Contains(err.Error(), "\n") {
		t.Errorf("bad --ssh-addr: %v", err)
	}
}
