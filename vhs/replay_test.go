//go:build !windows

package vhs_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/keydesk/keydesk/internal/doortest"
	"github.com/keydesk/keydesk/internal/etcdtest"
)

// The replay drives each tape the way VHS would, in a pseudo-terminal of
// this size running bash with VHS's prompt. VHS renders at whatever its
// Width/Height/FontSize give (about 110×34 for these tapes).
const (
	termCols = 110
	termRows = 34
)

// vhsPS1 is the prompt VHS v0.10.0 gives bash; its default Wait pattern
// />$/ is written for it.
const vhsPS1 = `\[\e[38;2;90;86;224m\]> \[\e[0m\]`

var (
	// buildLine is how a tape builds keydesk. The replay builds it once,
	// with the test's own flags (-race under -race), and points the tape's
	// directory at that build; the rest of the line runs as written.
	buildLine = regexp.MustCompile(`go build -o (\S+)/keydesk \.`)
	// The tapes' fixed ports (keydesk's SSH and HTTP, the second server's in
	// servers.tape, and its etcd's client and peer ports) become free ones, so
	// a keydesk or etcd already serving on this machine, or another tape,
	// cannot collide with the replay.
	tapePorts = []string{"23234", "23235", "23244", "23245", "23379", "23380"}
)

var (
	binDir    string
	buildOnce sync.Once
	buildErr  error
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "keydesk-vhs-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	return m.Run()
}

// buildKeydesk builds the binary the tapes run, once per test binary.
func buildKeydesk(t *testing.T) {
	t.Helper()
	buildOnce.Do(func() {
		// go test puts its own go first on PATH.
		goTool, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("find the go tool to build keydesk: %w", err)
			return
		}
		args := []string{"build", "-o", filepath.Join(binDir, "keydesk")}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command(goTool, append(args, ".")...)
		cmd.Dir = ".." // the module root: the tapes build from there too
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// provideEtcd puts etcd into binDir (which the tapes put on their PATH)
// when the machine has none, so the servers tape replays everywhere instead
// of being skipped: etcd is built from this module by internal/etcdtest, the
// same binary its process-cluster tests run.
var provideEtcd = sync.OnceValue(func() error {
	path, _, err := etcdtest.EtcdBinary()
	if err != nil {
		return err
	}
	return os.Symlink(path, filepath.Join(binDir, "etcd"))
})

// TestTapes replays every vhs/*.tape against the real keydesk binary: its
// shell commands run for real in bash, its console keystrokes reach the real
// console through a pseudo-terminal, and every Wait in the tape must match
// what the terminal shows before its deadline. A changed key binding,
// command, flag or output fails here before it spoils a demo.
func TestTapes(t *testing.T) {
	tapes, err := filepath.Glob("*.tape")
	if err != nil {
		t.Fatal(err)
	}
	if len(tapes) == 0 {
		t.Fatal("no tapes in vhs/")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed; the tapes run in bash")
	}
	buildKeydesk(t)
	for _, tape := range tapes {
		t.Run(strings.TrimSuffix(tape, ".tape"), func(t *testing.T) {
			t.Parallel()
			steps, err := parseTape(tape)
			if err != nil {
				t.Fatal(err)
			}
			replay(t, tape, steps)
		})
	}
}

// replay runs one tape's steps in a fresh bash in a fresh pseudo-terminal.
func replay(t *testing.T, tape string, steps []step) {
	for _, st := range steps {
		if st.kind == stepRequire {
			if _, err := exec.LookPath(st.program); err != nil {
				if st.program == "etcd" {
					if err := provideEtcd(); err != nil {
						t.Fatalf("%s:%d: %s is not installed and building it failed: %v", tape, st.line, st.program, err)
					}
					continue
				}
				t.Skipf("%s:%d: %s is not installed", tape, st.line, st.program)
			}
		}
	}
	subst, err := substitutions(steps)
	if err != nil {
		t.Fatalf("%s: %v", tape, err)
	}

	tmp := t.TempDir()
	home := filepath.Join(tmp, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "--noprofile", "--norc", "--login", "+o", "history")
	cmd.Dir = tmp
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"TMPDIR=" + tmp, // mktemp -d lands here and goes away with the test
		"TERM=xterm-256color",
		"COLORTERM=truecolor",
		"LANG=C.UTF-8",
		"PS1=" + vhsPS1,
		"BASH_SILENCE_DEPRECATION_WARNING=1",
	}
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: termCols, Rows: termRows})
	if err != nil {
		t.Fatalf("start bash in a pty: %v", err)
	}
	sess := &session{t: t, tape: tape, ptmx: ptmx, cmd: cmd, exited: make(chan struct{})}
	sess.scr = newScreen(termCols, termRows, func(b []byte) { _, _ = ptmx.Write(b) })
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		var w io.Writer = sess.scr
		if trace := os.Getenv("KEYDESK_VHS_TRACE"); trace != "" {
			// KEYDESK_VHS_TRACE=DIR keeps each tape's raw terminal output, for debugging.
			if f, err := os.Create(filepath.Join(trace, tape+".out")); err == nil {
				defer f.Close()
				w = io.MultiWriter(sess.scr, f)
			}
		}
		_, _ = io.Copy(w, ptmx)
	}()
	go func() {
		_ = cmd.Wait()
		close(sess.exited)
	}()
	t.Cleanup(func() {
		sess.stop()
		_ = ptmx.Close()
		<-readDone
	})

	waitTimeout := 15 * time.Second // VHS's default
	// Type nothing before bash prompts: keys typed earlier are echoed by the
	// terminal and again by readline, and the first Wait could see a prompt
	// before its command ran.
	sess.wait(&step{src: "(bash starting)", scope: "Line"}, 0, waitTimeout)
	var (
		mark         uint64 // output count when the last input was sent
		lastInput    *step
		waitedSince  = true
		lastEndsRune bool
	)
	for i := range steps {
		st := &steps[i]
		switch st.kind {
		case stepWaitTimeout:
			waitTimeout = st.timeout
		case stepInput:
			in := st.input
			for _, s := range subst {
				in = strings.ReplaceAll(in, s[0], s[1])
			}
			if !waitedSince && lastInput != nil {
				// Keys written back to back can reach the program in one
				// read, where two runes are one key ("2a") and ESC plus a
				// rune is alt+rune. VHS's typing delay keeps them apart; the
				// replay needs a Wait in between to be sure.
				if (lastEndsRune && startsWithRune(in)) || strings.HasSuffix(lastInput.input, "\x1b") {
					t.Fatalf("%s:%d: %q right after %q (line %d) with no Wait between: the console could read them as one key; add a Wait+Screen for what the first key shows",
						tape, st.line, st.src, lastInput.src, lastInput.line)
				}
			}
			mark, _ = sess.scr.state()
			if _, err := io.WriteString(ptmx, in); err != nil {
				t.Fatalf("%s:%d: write to the terminal: %v", tape, st.line, err)
			}
			lastInput, waitedSince, lastEndsRune = st, false, endsWithRune(in)
		case stepWait:
			d := waitTimeout
			if st.timeout > 0 {
				d = st.timeout
			}
			sess.wait(st, mark, d)
			waitedSince = true
		}
	}
	// A tape ends at the shell prompt: leave the shell as a person would.
	_, _ = io.WriteString(ptmx, "exit\r")
	select {
	case <-sess.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: bash did not exit at the end of the tape (is a console still open?)\n%s", tape, sess.scr.Text())
	}
	if left := sessionProcesses(cmd.Process.Pid); len(left) > 0 {
		t.Errorf("%s: processes left running after the tape ended: %v (a tape must stop what it starts)", tape, left)
	}
}

// substitutions are the replay's only changes to what a tape types: the
// build directory becomes the test's build, the demo ports become free ones.
func substitutions(steps []step) ([][2]string, error) {
	var subst [][2]string
	for _, st := range steps {
		if st.kind != stepInput {
			continue
		}
		if m := buildLine.FindStringSubmatch(st.input); m != nil {
			subst = append(subst, [2]string{m[0], "true"}, [2]string{m[1], binDir})
			break
		}
	}
	if subst == nil {
		return nil, errors.New(`a tape must build the binary it shows: Type "go build -o DIR/keydesk . && export PATH=DIR:$PATH …"`)
	}
	for _, p := range tapePorts {
		free, err := freePort()
		if err != nil {
			return nil, err
		}
		subst = append(subst, [2]string{p, free})
	}
	return subst, nil
}

// freePort is a port below Linux's ephemeral range (doortest.FreePort), so
// no outgoing connection takes it between this check and keydesk's listen.
func freePort() (string, error) {
	p, err := doortest.FreePort()
	return strconv.Itoa(p), err
}

func startsWithRune(s string) bool {
	return s != "" && s[0] > ' ' && s[0] != 0x7f
}

func endsWithRune(s string) bool {
	return s != "" && s[len(s)-1] > ' ' && s[len(s)-1] != 0x7f && !strings.HasSuffix(s, "\x1b")
}

// session is one running tape.
type session struct {
	t      *testing.T
	tape   string
	ptmx   *os.File
	cmd    *exec.Cmd
	scr    *screen
	exited chan struct{}
}

// wait blocks until the terminal, as drawn after the last input reached it,
// matches the step's pattern, or fails the test at the deadline. It wakes on
// every write from the program; it never sleeps.
func (s *session) wait(st *step, mark uint64, timeout time.Duration) {
	s.t.Helper()
	re := st.re
	if re == nil {
		re = regexp.MustCompile(`>$`) // VHS's default: the prompt is back
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		seq, changed := s.scr.state()
		var text string
		if st.scope == "Screen" {
			text = s.scr.Text()
		} else {
			text = s.scr.Line()
		}
		if seq > mark && re.MatchString(text) {
			return
		}
		select {
		case <-changed:
		case <-s.exited:
			s.t.Fatalf("%s:%d: %s: the shell exited; screen:\n%s", s.tape, st.line, st.src, s.scr.Text())
		case <-deadline.C:
			s.t.Fatalf("%s:%d: %s: no match within %v; the terminal shows:\n%s\n%s",
				s.tape, st.line, st.src, timeout, strings.Repeat("─", termCols), s.scr.Text())
		}
	}
}

// stop ends the shell and everything it started that is still running (a
// server a failed tape left behind): SIGHUP as a closing terminal would
// send, then SIGKILL for whatever is left.
func (s *session) stop() {
	pid := s.cmd.Process.Pid
	for _, p := range append(sessionProcesses(pid), pid) {
		_ = syscall.Kill(p, syscall.SIGHUP)
	}
	select {
	case <-s.exited:
	case <-time.After(3 * time.Second):
	}
	for _, p := range append(sessionProcesses(pid), pid) {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	<-s.exited
}

// sessionProcesses lists the processes of session sid other than sid itself
// (pty.Start makes bash a session leader, so everything the tape started
// belongs to its session unless it called setsid). Linux only; elsewhere it
// returns nil and cleanup relies on SIGHUP.
func sessionProcesses(sid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == sid {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after "(comm)": state ppid pgrp session …
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 3 && f[0] != "Z" {
			if s, _ := strconv.Atoi(f[3]); s == sid {
				out = append(out, pid)
			}
		}
	}
	return out
}
