// Package firstrun is the form shown when `keydesk` opens an empty data
// directory: it asks for the Account Owner's name, email and (optionally) SSH
// key, validates them with the same rules the store applies, and hands the
// answers back. Creating the organization is left to the caller and the store.
// It is a huh form drawn exactly like the console's own (tui.NewForm).
package firstrun

import (
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/huh"
	"github.com/charmbracelet/lipgloss"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/keydesk/keydesk/tui"
)

// Model is the first-run form.
type Model struct {
	dir        string
	st         tui.Styles
	form       *huh.Form
	name       string
	email      string
	keyArg     string
	err        string
	done       bool
	cancelled  bool
	width      int
	cancelKeys key.Binding
}

// New returns the form for data directory dir, drawn with renderer r (nil: the
// default renderer).
func New(dir string, r *lipgloss.Renderer) *Model {
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	m := &Model{dir: dir, st: tui.NewStyles(r), width: 80,
		cancelKeys: key.NewBinding(key.WithKeys("esc", "ctrl+c"), key.WithHelp("esc", "quit"))}
	m.form = m.build()
	return m
}

func (m *Model) build() *huh.Form {
	return tui.NewForm(m.st, m.formWidth(),
		huh.NewInput().Title("Name").Description("Your name, as others will see it").Placeholder("e.g. Olive Owner").
			CharLimit(models.MaxNameLen).Value(&m.name).Validate(func(s string) error { _, err := models.ValidateName("name", s); return err }),
		huh.NewInput().Title("Email").Description("Your login identity").Placeholder("e.g. olive@example.com").
			CharLimit(models.MaxEmailLen).Value(&m.email).Validate(func(s string) error { _, err := models.NormalizeEmail(s); return err }),
		huh.NewInput().Title("SSH public key").Description("Optional: key text or a .pub file; lets you open the console over SSH").
			Placeholder("e.g. ~/.ssh/id_ed25519.pub").CharLimit(16*1024).Value(&m.keyArg).Validate(func(s string) error {
			if strings.TrimSpace(s) == "" {
				return nil
			}
			_, err := ownerKey(s)
			return err
		}),
	)
}

func (m *Model) formWidth() int { return max(min(m.width-8, 72), 30) }

// Init focuses the first field.
func (m *Model) Init() tea.Cmd { return m.form.Init() }

// Update handles keys and resizes.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width = msg.Width
		m.form = m.form.WithWidth(m.formWidth())
		return m, nil
	case cursor.BlinkMsg:
		return m, nil
	case tea.KeyMsg:
		if key.Matches(msg, m.cancelKeys) {
			m.cancelled = true
			return m, tea.Quit
		}
		m.err = ""
	}
	f, cmd := m.form.Update(msg)
	m.form = f.(*huh.Form)
	if m.form.State == huh.StateCompleted {
		if _, err := m.Owner(); err != nil {
			m.err = err.Error()
			m.form = m.build()
			return m, m.form.Init()
		}
		m.done = true
		return m, tea.Quit
	}
	return m, cmd
}

// ownerKey reads key text or a .pub file (models.SSHKeyArg decides which, as
// at every other door) and checks it.
func ownerKey(arg string) (string, error) {
	text, err := models.SSHKeyArg(arg, true)
	if err != nil {
		return "", err
	}
	if _, err := models.ParseSSHKey(text); err != nil {
		return "", err
	}
	return text, nil
}

// Owner validates the answers with the store's own rules and returns them.
func (m *Model) Owner() (store.NewUser, error) {
	name, err := models.ValidateName("name", m.name)
	if err != nil {
		return store.NewUser{}, err
	}
	email, err := models.NormalizeEmail(m.email)
	if err != nil {
		return store.NewUser{}, err
	}
	nu := store.NewUser{Name: name, Email: email, Role: models.RoleOwner}
	if strings.TrimSpace(m.keyArg) != "" {
		text, err := ownerKey(m.keyArg)
		if err != nil {
			return store.NewUser{}, err
		}
		nu.Keys = []string{text}
	}
	return nu, nil
}

// Done reports whether the form was submitted with valid answers.
func (m *Model) Done() bool { return m.done && !m.cancelled }

// View draws the form in the console's dialog frame.
func (m *Model) View() string {
	if m.done || m.cancelled {
		return ""
	}
	st := m.st
	w := m.formWidth()
	lines := []string{
		st.Brand.Render("keydesk") + "  " + st.Title.Render("Welcome"),
		st.Subtle.Width(w).Render("There is no organization in " + models.SanitizeCells(m.dir) + " yet. Create it and its Account Owner — that is you."),
		"",
		tui.FormView(m.form),
		"",
	}
	if m.err != "" {
		lines = append(lines, st.Error.Width(w).Render("✗ "+models.SanitizeCells(m.err)), "")
	}
	help := []string{"enter next / create", "shift+tab back a field", "esc quit"}
	for i, h := range help {
		k, d, _ := strings.Cut(h, " ")
		help[i] = st.HelpKey.Render(k) + " " + st.HelpDesc.Render(d)
	}
	lines = append(lines, strings.Join(help, st.HelpSep.Render(" • ")))
	return indent(st.Dialog.Width(w+2).Render(strings.Join(lines, "\n")), 2)
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
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
