package main

import (
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// driver runs a Bubble Tea model the way tea.Program does — commands in
// goroutines, their messages back into Update — but hands the messages to
// Update on the caller's goroutine, so the harness can time exactly one
// Update + View, e.g. one keystroke in the picker.
type driver struct {
	m    tea.Model
	msgs chan tea.Msg
}

func newDriver(m tea.Model, width, height int) *driver {
	d := &driver{m: m, msgs: make(chan tea.Msg, 4096)}
	d.run(m.Init())
	d.handle(tea.WindowSizeMsg{Width: width, Height: height})
	return d
}

func (d *driver) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		if msg := cmd(); msg != nil {
			d.msgs <- msg
		}
	}()
}

func (d *driver) handle(msg tea.Msg) {
	if b, ok := msg.(tea.BatchMsg); ok {
		for _, c := range b {
			d.run(c)
		}
		return
	}
	m, cmd := d.m.Update(msg)
	d.m = m
	d.run(cmd)
}

// drain handles the messages that have already arrived, without waiting.
func (d *driver) drain() {
	for {
		select {
		case msg := <-d.msgs:
			d.handle(msg)
		default:
			return
		}
	}
}

// until handles messages as they arrive until the view contains want.
func (d *driver) until(want string, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		v := d.m.View()
		if strings.Contains(v, want) {
			return nil
		}
		select {
		case msg := <-d.msgs:
			d.handle(msg)
		case <-deadline:
			return fmt.Errorf("console never showed %q within %v; last view:\n%s", want, timeout, v)
		}
	}
}

// key is a key press of one character.
func key(r rune) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}} }
