package tui

import "github.com/charmbracelet/bubbles/key"

// globalKeys are the keys the root handles when no field has the keyboard.
type globalKeys struct {
	Next, Prev, Help, Quit, Back key.Binding
	Jump                         key.Binding
}

func newGlobalKeys() globalKeys {
	return globalKeys{
		Next: key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next page")),
		Prev: key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "prev page")),
		Jump: key.NewBinding(key.WithKeys("1", "2", "3", "4"), key.WithHelp("1-4", "go to page")),
		Help: key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "more keys")),
		Quit: key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Back: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
	}
}

// listKeys move a cursor through a list or table; every list screen shares them.
type listKeys struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding
}

func newListKeys() listKeys {
	return listKeys{
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "left", "["), key.WithHelp("←/pgup", "prev page")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "right", "]"), key.WithHelp("→/pgdn", "next page")),
		Top:      key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g", "top")),
		Bottom:   key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G", "bottom")),
	}
}

// moveCursor applies a list key to cursor over n rows (page is the visible height).
func (k listKeys) moveCursor(msg interface{ String() string }, cursor, n, page int) (int, bool) {
	s := msg.String()
	switch {
	case matches(s, k.Up):
		cursor--
	case matches(s, k.Down):
		cursor++
	case matches(s, k.Top):
		cursor = 0
	case matches(s, k.Bottom):
		cursor = n - 1
	default:
		return cursor, false
	}
	return clamp(cursor, 0, max(n-1, 0)), true
}

// matches is key.Matches for a key's string form, for helpers that only have it.
func matches(s string, b key.Binding) bool {
	if !b.Enabled() {
		return false
	}
	for _, k := range b.Keys() {
		if k == s {
			return true
		}
	}
	return false
}
