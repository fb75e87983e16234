//go:build !windows

package vhs_test

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// step is one command of a tape, reduced to what a replay needs.
type step struct {
	line int    // 1-based line in the tape, for messages
	src  string // the command as written
	kind stepKind

	input   string         // input: the bytes a terminal would send
	scope   string         // wait: "Line" or "Screen"
	re      *regexp.Regexp // wait: nil for the tape's default pattern
	timeout time.Duration  // wait: 0 for the tape's default
	program string         // require: a program that must be on PATH
}

type stepKind int

const (
	stepInput stepKind = iota
	stepWait
	stepRequire
	stepWaitTimeout // Set WaitTimeout: timeout holds the new default
	stepNone        // Output, Set, Sleep, Hide, Show, Screenshot: nothing to replay
)

// keyBytes are what xterm sends for VHS's named keys.
var keyBytes = map[string]string{
	"Enter":     "\r",
	"Space":     " ",
	"Backspace": "\x7f",
	"Tab":       "\t",
	"Escape":    "\x1b",
	"Up":        "\x1b[A",
	"Down":      "\x1b[B",
	"Right":     "\x1b[C",
	"Left":      "\x1b[D",
	"PageUp":    "\x1b[5~",
	"PageDown":  "\x1b[6~",
	"Delete":    "\x1b[3~",
	"Insert":    "\x1b[2~",
	"Home":      "\x1b[H",
	"End":       "\x1b[F",
}

// parseTape reads the subset of VHS v0.10.0's tape language keydesk's tapes
// use. Anything else is an error, so a tape cannot quietly contain a command
// the replay skips. (`vhs validate` in CI checks the full grammar.)
func parseTape(path string) ([]step, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var steps []step
	for i, raw := range strings.Split(string(b), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		st, err := parseStep(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", path, i+1, line, err)
		}
		st.line, st.src = i+1, line
		steps = append(steps, st)
	}
	return steps, nil
}

func parseStep(line string) (step, error) {
	word, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	name, opt, _ := strings.Cut(word, "@") // Type@50ms, Wait@5s, Left@100ms
	if opt != "" {
		if _, err := parseDuration(opt); err != nil {
			return step{}, err
		}
	}
	switch {
	case name == "Output", name == "Sleep", name == "Hide", name == "Show", name == "Screenshot":
		return step{kind: stepNone}, nil
	case name == "Set":
		setting, val, _ := strings.Cut(rest, " ")
		if setting == "WaitTimeout" {
			d, err := parseDuration(strings.TrimSpace(val))
			return step{kind: stepWaitTimeout, timeout: d}, err
		}
		if setting == "Shell" && strings.Trim(strings.TrimSpace(val), `"'`) != "bash" {
			return step{}, fmt.Errorf("the replay runs bash; set Shell \"bash\"")
		}
		if setting == "WaitPattern" {
			return step{}, fmt.Errorf("the replay knows only the default wait pattern />$/")
		}
		return step{kind: stepNone}, nil
	case name == "Require":
		return step{kind: stepRequire, program: strings.Trim(rest, `"'`)}, nil
	case name == "Type":
		parts, err := splitStrings(rest)
		if err != nil {
			return step{}, err
		}
		return step{kind: stepInput, input: strings.Join(parts, " ")}, nil
	case strings.HasPrefix(name, "Ctrl+"):
		k := strings.TrimPrefix(name, "Ctrl+")
		if len(k) != 1 {
			return step{}, fmt.Errorf("the replay knows Ctrl+<one key> only")
		}
		c := k[0]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		return step{kind: stepInput, input: string(rune(c & 0x1f))}, nil
	case strings.HasPrefix(name, "Wait"):
		st := step{kind: stepWait, scope: "Line"}
		switch name {
		case "Wait":
		case "Wait+Line":
		case "Wait+Screen":
			st.scope = "Screen"
		default:
			return step{}, fmt.Errorf("unknown wait %q", name)
		}
		if opt != "" {
			st.timeout, _ = parseDuration(opt)
		}
		if rest != "" {
			if len(rest) < 2 || rest[0] != '/' || rest[len(rest)-1] != '/' {
				return step{}, fmt.Errorf("a wait takes /regex/")
			}
			re, err := regexp.Compile(rest[1 : len(rest)-1])
			if err != nil {
				return step{}, err
			}
			st.re = re
		}
		return st, nil
	}
	if k, ok := keyBytes[name]; ok {
		n := 1
		if rest != "" {
			var err error
			if n, err = strconv.Atoi(rest); err != nil || n < 1 {
				return step{}, fmt.Errorf("bad repeat count %q", rest)
			}
		}
		return step{kind: stepInput, input: strings.Repeat(k, n)}, nil
	}
	return step{}, fmt.Errorf("the replay does not know %q; teach vhs/tape_test.go or use another command", name)
}

// splitStrings splits `"a" 'b' `+"`c`"+“ into its strings. VHS strings have no
// escapes: a string ends at the next quote of the kind that opened it.
func splitStrings(s string) ([]string, error) {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		q := s[0]
		if q != '"' && q != '\'' && q != '`' {
			return nil, fmt.Errorf("expected a quoted string at %q", s)
		}
		end := strings.IndexByte(s[1:], q)
		if end < 0 {
			return nil, fmt.Errorf("unterminated string %q", s)
		}
		out = append(out, s[1:end+1])
		s = s[end+2:]
	}
	if len(out) == 0 {
		return nil, errors.New("a Type needs a string")
	}
	return out, nil
}

// parseDuration reads VHS times: 500ms, 1.5s, 2m, or a bare number of seconds.
func parseDuration(s string) (time.Duration, error) {
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		s += "s"
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	return d, nil
}
