package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/keydesk/keydesk/models"
)

// errDeclined is a confirmation answered with anything but yes.
var errDeclined = errors.New("not confirmed; nothing changed")

// confirm asks question on stderr before a destructive change when a person
// is at a terminal, as the console does; --yes, and any run without a
// terminal (a script, ssh without -t), go ahead without asking.
func (g *Globals) confirm(yes bool, question string) error {
	if yes || !g.env.Interactive {
		return nil
	}
	fmt.Fprintf(g.env.Stderr, "%s [y/N] ", models.SanitizeLine(question))
	answer, err := g.readAnswer()
	if err != nil {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return errDeclined
}

// readAnswer reads one line from stdin a byte at a time (nothing past the
// answer is consumed). Over SSH with a terminal the client's terminal is raw:
// the answer is echoed here, backspace edits it, and ctrl-C or ctrl-D says no.
func (g *Globals) readAnswer() (string, error) {
	raw := g.env.Session != nil && g.env.Session.Pty
	var line []byte
	var b [1]byte
	for len(line) < 64 {
		n, err := g.env.Stdin.Read(b[:])
		if n == 0 {
			if err == io.EOF {
				break
			}
			if err != nil {
				return "", err
			}
			continue
		}
		c := b[0]
		switch {
		case c == '\n' || c == '\r':
			if raw {
				fmt.Fprint(g.env.Stderr, "\r\n")
			}
			return string(line), nil
		case c == 3 || c == 4: // ctrl-C, ctrl-D
			if raw {
				fmt.Fprint(g.env.Stderr, "\r\n")
			}
			return "", errDeclined
		case c == 127 || c == 8:
			if len(line) > 0 {
				line = line[:len(line)-1]
				if raw {
					fmt.Fprint(g.env.Stderr, "\b \b")
				}
			}
		case c >= ' ' && c < 127:
			line = append(line, c)
			if raw {
				fmt.Fprintf(g.env.Stderr, "%c", c)
			}
		}
	}
	return string(line), nil
}
