package tui

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/keydesk/keydesk/store"
)

// lazyPage stands in for a tab's page until the console first needs it: most
// consoles stay on My Profile, and a built page (text input, key bindings,
// table state) is several kilobytes, which a server holding a thousand idle
// consoles pays a thousand times. The tab's title and what changes concern it
// are known without the page; everything else builds it.
type lazyPage struct {
	title     string
	concerned func(store.Event) bool // may not read the page: the live goroutine calls it
	build     func() page
	p         page // nil until built
	w, h      int  // the size it is to have when built
}

func lazy(title string, concerned func(store.Event) bool, build func() page) *lazyPage {
	return &lazyPage{title: title, concerned: concerned, build: build}
}

// get returns the page, building it (at the size last given) on first use.
func (l *lazyPage) get() page {
	if l.p == nil {
		l.p = l.build()
		l.p.SetSize(l.w, l.h)
	}
	return l.p
}

// unwrap is the page behind a lazyPage (built if need be), or p itself.
func unwrap(p page) page {
	if l, ok := p.(*lazyPage); ok {
		return l.get()
	}
	return p
}

func (l *lazyPage) Title() string                { return l.title }
func (l *lazyPage) Concerns(ev store.Event) bool { return l.concerned(ev) }

// SetSize remembers the size; an unbuilt page reports a reload due, so it
// is marked stale and loads when first shown.
func (l *lazyPage) SetSize(w, h int) bool {
	l.w, l.h = w, h
	if l.p == nil {
		return true
	}
	return l.p.SetSize(w, h)
}

func (l *lazyPage) Capturing() bool { return l.p != nil && l.p.Capturing() }

// Update passes msg on once the page exists; before, nothing can be for it:
// what screens receive are the results of their own store calls.
func (l *lazyPage) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if l.p == nil {
		return l, nil
	}
	np, cmd := l.p.Update(msg)
	l.p = np.(page)
	return l, cmd
}

func (l *lazyPage) Init() tea.Cmd             { return l.get().Init() }
func (l *lazyPage) Reload() tea.Cmd           { return l.get().Reload() }
func (l *lazyPage) View() string              { return l.get().View() }
func (l *lazyPage) ShortHelp() []key.Binding  { return l.get().ShortHelp() }
func (l *lazyPage) FullHelp() [][]key.Binding { return l.get().FullHelp() }

// Click forwards a mouse click to a page that takes them.
func (l *lazyPage) Click(y int) tea.Cmd {
	if c, ok := l.get().(clicker); ok {
		return c.Click(y)
	}
	return nil
}
