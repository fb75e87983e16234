// Package firstrun is the form shown when `keydesk` opens an empty data
// directory: it asks for the Account Owner's name, email and (optionally) SSH
// key, validates them with the same rules the store applies, and hands the
// answers back. Creating the organization is left to the caller and the store.
package firstrun

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/tui"
)

// Model is the first-run form.
type Model struct {
	dir       string
	st        tui.Styles
	inputs    []textinput.Model
	focus     int
	err       string
	done      bool
	cancelled bool
	width     int
	keys      keyMap
}

type keyMap struct {
	Next, Prev, Submit, Cancel key.Binding
}

const (
	fieldName = iota
	fieldEmail
	fieldKey
)

// New returns the form for data directory dir, drawn with renderer r (nil: the
// default renderer).
func New(dir string, r *lipgloss.Renderer) *Model {
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	m := &Model{dir: dir, st: tui.NewStyles(r), keys: keyMap{
		Next:   key.NewBinding(key.WithKeys("tab", "down"), key.WithHelp("tab", "next field")),
		Prev:   key.NewBinding(key.WithKeys("shift+tab", "up"), key.WithHelp("shift+tab", "previous")),
		Submit: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "next / create")),
		Cancel: key.NewBinding(key.WithKeys("esc", "ctrl+c"), key.WithHelp("esc", "quit")),
	}}
	for i, p := range []string{"Olive Owner", "olive@example.com", "~/.ssh/id_ed25519.pub or ssh-ed25519 AAAA… (optional)"} {
		in := textinput.New()
		in.Placeholder = p
		in.CharLimit = 16 * 1024
		in.Width = 50
		if i == fieldName {
			in.CharLimit = models.MaxNameLen
			in.Focus()
		}
		m.inputs = append(m.inputs, in)
	}
	return m
}

// Init starts the cursor blinking.
func (m *Model) Init() tea.Cmd { return textinput.Blink }

// Update handles keys and resizes.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width = msg.Width
		return m, nil
	case tea.KeyMsg:
		switch {
		case key.Matches(msg, m.keys.Cancel):
			m.cancelled = true
			return m, tea.Quit
		case key.Matches(msg, m.keys.Next):
			return m, m.move(1)
		case key.Matches(msg, m.keys.Prev):
			return m, m.move(-1)
		case key.Matches(msg, m.keys.Submit):
			if m.focus < len(m.inputs)-1 {
				return m, m.move(1)
			}
			if _, err := m.Owner(); err != nil {
				m.err = err.Error()
				return m, nil
			}
			m.done = true
			return m, tea.Quit
		}
	}
	var cmd tea.Cmd
	m.inputs[m.focus], cmd = m.inputs[m.focus].Update(msg)
	if _, typed := msg.(tea.KeyMsg); typed {
		m.err = "" // the person is fixing it; cursor blinks must not hide it
	}
	return m, cmd
}

func (m *Model) move(d int) tea.Cmd {
	m.inputs[m.focus].Blur()
	m.focus = (m.focus + d + len(m.inputs)) % len(m.inputs)
	return m.inputs[m.focus].Focus()
}

// Owner validates the answers with the store's own rules and returns them.
func (m *Model) Owner() (store.NewUser, error) {
	name, err := models.ValidateName("name", m.inputs[fieldName].Value())
	if err != nil {
		return store.NewUser{}, err
	}
	email, err := models.NormalizeEmail(m.inputs[fieldEmail].Value())
	if err != nil {
		return store.NewUser{}, err
	}
	nu := store.NewUser{Name: name, Email: email, Role: models.RoleOwner}
	if k := strings.TrimSpace(m.inputs[fieldKey].Value()); k != "" {
		text, err := keyText(k)
		if err != nil {
			return store.NewUser{}, err
		}
		if _, err := models.ParseSSHKey(text); err != nil {
			return store.NewUser{}, err
		}
		nu.Keys = []string{text}
	}
	return nu, nil
}

// keyText accepts key text, or a path (with ~ expanded) to a .pub file:
// models.SSHKeyArg decides which, as at every other door.
func keyText(s string) (string, error) { return models.SSHKeyArg(s, true) }

// Done reports whether the form was submitted with valid answers.
func (m *Model) Done() bool { return m.done && !m.cancelled }

// View draws the form.
func (m *Model) View() string {
	if m.done || m.cancelled {
		return ""
	}
	var b strings.Builder
	b.WriteString(m.st.Brand.Render("keydesk") + "  " + m.st.Title.Render("Welcome") + "\n\n")
	b.WriteString(m.st.Subtle.Render("There is no organization in "+models.Sanitize(m.dir)+" yet.") + "\n")
	b.WriteString(m.st.Subtle.Render("Create it and its Account Owner — that is you.") + "\n\n")
	labels := []string{"Name", "Email", "SSH public key"}
	for i, in := range m.inputs {
		label := m.st.Header.Render(fmt.Sprintf("%-15s", labels[i]))
		if i == m.focus {
			label = m.st.Key.Render(fmt.Sprintf("%-15s", labels[i]))
		}
		b.WriteString(label + in.View() + "\n")
	}
	b.WriteString("\n")
	if m.err != "" {
		b.WriteString(m.st.Error.Render("✗ "+models.SanitizeLine(m.err)) + "\n\n")
	}
	help := []string{}
	for _, k := range []key.Binding{m.keys.Next, m.keys.Prev, m.keys.Submit, m.keys.Cancel} {
		help = append(help, m.st.HelpKey.Render(k.Help().Key)+" "+m.st.HelpDesc.Render(k.Help().Desc))
	}
	b.WriteString(strings.Join(help, m.st.HelpSep.Render(" • ")))
	return b.String()
}

// Run shows the form on the terminal and returns the owner to create, or
// ok=false if the person quit.
func Run(dir string) (store.NewUser, bool, error) {
	m := New(dir, nil)
	final, err := tea.NewProgram(m, tea.WithAltScreen()).Run()
	if err != nil {
		return store.NewUser{}, false, err
	}
	fm := final.(*Model)
	if !fm.Done() {
		return store.NewUser{}, false, nil
	}
	nu, err := fm.Owner()
	return nu, err == nil, err
}
