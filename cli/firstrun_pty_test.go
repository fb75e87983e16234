package cli_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
	"github.com/creack/pty"
	"github.com/keydesk/keydesk/store"
)

// ptyConsole runs keydesk (this test binary as keydesk, see TestMain) in a
// pseudo-terminal, answering the terminal queries Bubble Tea
// sends as a terminal would.
type ptyConsole struct {
	t    *testing.T
	ptmx *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	mark int // where typeKeys last left the output
	done chan error
}

func startConsole(t *testing.T, dir string, args ...string) *ptyConsole {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, append([]string{"--data", dir}, args...)...)
	cmd.Env = []string{"KEYDESK_CLI_TEST_MAIN=1", "TERM=xterm-256color", "HOME=" + t.TempDir(), "LANG=C.UTF-8"}
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 80, Rows: 23})
	if err != nil {
		t.Fatalf("start the console in a pty: %v", err)
	}
	c := &ptyConsole{t: t, ptmx: ptmx, done: make(chan error, 1)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			c.mu.Lock()
			c.out.Write(buf[:n])
			c.mu.Unlock()
			chunk := string(buf[:n])
			if strings.Contains(chunk, "\x1b]11;?") {
				_, _ = ptmx.WriteString("\x1b]11;rgb:0000/0000/0000\x1b\\")
			}
			if strings.Contains(chunk, "\x1b[6n") {
				_, _ = ptmx.WriteString("\x1b[1;1R")
			}
			if err != nil {
				return
			}
		}
	}()
	go func() { c.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = ptmx.Close()
	})
	return c
}

// waitFor polls the output written since the last typeKeys for text, until
// a deadline.
func (c *ptyConsole) waitFor(text string) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		ok := strings.Contains(c.out.String()[c.mark:], text)
		c.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t.Fatalf("the console never showed %q; it showed:\n%q", text, c.out.String()[c.mark:])
}

// typeKeys sends s; the next waitFor looks only at what came after.
func (c *ptyConsole) typeKeys(s string) {
	c.t.Helper()
	c.mu.Lock()
	c.mark = c.out.Len()
	c.mu.Unlock()
	if _, err := io.WriteString(c.ptmx, s); err != nil {
		c.t.Fatal(err)
	}
}

// exit waits for the console to end and returns its error (nil: status 0).
func (c *ptyConsole) exit() error {
	c.t.Helper()
	select {
	case err := <-c.done:
		return err
	case <-time.After(15 * time.Second):
		c.t.Fatal("the console did not exit")
		return nil
	}
}

// Quitting the first-run form writes nothing: no keydesk.db, no secrets/, not
// even the directory (it left a database with no organization and its
// secrets behind). Filling it in creates the organization and opens it.
func TestFirstRunFormQuitLeavesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "org")
	c := startConsole(t, dir)
	c.waitFor("Welcome")
	c.typeKeys("\x1b")
	var exit *exec.ExitError
	if err := c.exit(); !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("quitting the form: %v; want exit status 1", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		entries, _ := os.ReadDir(dir)
		t.Fatalf("quitting the form left %s behind (%v, %d entries)", dir, err, len(entries))
	}

	c = startConsole(t, dir)
	c.waitFor("Welcome")
	// Each field's Enter redraws the next field's title as it takes focus.
	for _, f := range []struct{ typed, next string }{{"Fay First", "Email"}, {"fay@example.com", "SSH public key"}, {"", "No tokens yet"}} {
		if f.typed != "" {
			c.typeKeys(f.typed)
			c.waitFor(f.typed)
		}
		c.typeKeys("\r")
		c.waitFor(f.next)
	}
	c.typeKeys("q")
	if err := c.exit(); err != nil {
		t.Fatalf("console after the form: %v", err)
	}
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if u, err := s.User("fay@example.com"); err != nil || u.Name != "Fay First" {
		t.Fatalf("owner after the form: %+v, %v", u, err)
	}
}

// `keydesk backup -` at a terminal is refused in one line that says to give
// a file: it poured the database's bytes onto the screen.
func TestBackupToTerminalLocally(t *testing.T) {
	dir := initOrg(t)
	c := startConsole(t, dir, "backup", "-")
	var exit *exec.ExitError
	if err := c.exit(); !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("backup - at a terminal: %v; want exit status 2", err)
	}
	c.waitFor("send it to a file: keydesk backup keydesk-backup.db")
	c.mu.Lock()
	defer c.mu.Unlock()
	if strings.ContainsRune(c.out.String(), 0) {
		t.Fatalf("backup - at a terminal wrote the database: %q", c.out.String())
	}
}

// At an 80-column terminal token list and audit fit it, leaving out the
// columns token show repeats and saying so on stderr (every row was 150 or
// more cells, wrapped onto two lines); piped, every column is still there.
func TestTablesFitTheTerminal(t *testing.T) {
	dir := initOrg(t)
	for _, n := range []string{"ci", "deploy"} {
		if r := run(t, dir, "token", "create", "--name", n, "--expires", "30d"); r.code != 0 {
			t.Fatalf("create: %+v", r)
		}
	}
	for _, c := range []struct {
		args []string
		note string
	}{
		{[]string{"token", "list", "--all"}, "(hidden at 80 columns: ROLE, TOKEN, LAST USED, CREATED; see --json)"},
		{[]string{"audit"}, "(hidden at 80 columns: VIA, TOKEN, TARGET; see --json)"},
	} {
		pc := startConsole(t, dir, c.args...)
		if err := pc.exit(); err != nil {
			t.Fatalf("%v at a terminal: %v", c.args, err)
		}
		pc.waitFor(c.note)
		pc.mu.Lock()
		out := pc.out.String()
		pc.mu.Unlock()
		for _, l := range strings.Split(strings.TrimSpace(out), "\r\n") {
			if w := cellWidthOf(l); w > 80 {
				t.Errorf("%v at 80 columns: a %d-cell line %q", c.args, w, l)
			}
		}
		if r := run(t, dir, c.args...); !strings.Contains(r.stdout, "TOKEN") || strings.Contains(r.stderr, "hidden") {
			t.Errorf("%v piped lost its columns: %+v", c.args, r)
		}
	}
}

// cellWidthOf is how wide a line of terminal output is, escapes aside.
func cellWidthOf(s string) int { return utf8.RuneCountInString(ansi.Strip(s)) }
