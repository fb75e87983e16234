package sshserver

import (
	"errors"
	"strings"
)

// errUnclosedQuote and errTrailingBackslash are the ways a command line can
// be cut short; running what was read so far would act on input the person
// did not finish typing (a token named `abc` for `--name "abc`).
var (
	errUnclosedQuote     = errors.New("the command has a quote that is never closed; close it (e.g. --name \"my token\") and try again")
	errTrailingBackslash = errors.New("the command ends with a backslash; remove it or quote it and try again")
)

// splitCommand splits an SSH "exec" command line into arguments the way a
// POSIX shell would, without expansion: blanks separate words, '…' is
// literal, "…" is literal except for \" \\ \$ \` and a backslash-newline,
// and a backslash outside quotes escapes the next character.
//
// It exists because ssh.Session.Command() (go-shlex) drops every empty word,
// so `token create --name ""` arrived as `token create --name` and the person
// was told the flag needs an argument instead of that the name is empty; and
// because Command() ignores an unclosed quote and runs what it had read. A
// quoted empty word is a word here, and a line cut short is an error.
func splitCommand(line string) ([]string, error) {
	var (
		args    []string
		word    strings.Builder
		inWord  bool // a word has started, even if it is still empty ("")
		quote   rune // 0, '\'' or '"'
		escaped bool
	)
	for _, r := range line {
		switch {
		case escaped:
			escaped = false
			if quote == '"' && !strings.ContainsRune("\"\\$`\n", r) {
				word.WriteRune('\\') // inside "…" only these are escapable
			}
			if r != '\n' { // a backslash-newline joins lines
				word.WriteRune(r)
				inWord = true
			}
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				word.WriteRune(r)
			}
		case quote == '"':
			switch r {
			case '"':
				quote = 0
			case '\\':
				escaped = true
			default:
				word.WriteRune(r)
			}
		case r == '\\':
			escaped = true
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inWord {
				args = append(args, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	switch {
	case quote != 0:
		return nil, errUnclosedQuote
	case escaped:
		return nil, errTrailingBackslash
	}
	if inWord {
		args = append(args, word.String())
	}
	return args, nil
}
