package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

type usersKeys struct {
	Add, Role, AddKey, RemoveKey, Remove, Filter, Apply, Clear key.Binding
}

func newUsersKeys() usersKeys {
	return usersKeys{
		Add:       key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "add user")),
		Role:      key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "change role")),
		AddKey:    key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "add ssh key")),
		RemoveKey: key.NewBinding(key.WithKeys("S"), key.WithHelp("S", "remove ssh key")),
		Remove:    key.NewBinding(key.WithKeys("x", "delete"), key.WithHelp("x", "remove user")),
		Filter:    key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Apply:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "done")),
		Clear:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
	}
}

// rolesBelowOwner are the roles a form can grant; ownership moves by transfer.
var rolesBelowOwner = []string{string(models.RoleUser), string(models.RoleAdmin), string(models.RoleStakeholder)}

// usersPage lists the organization's people and manages them (owner and
// admins). Each change is a store call that checks the actor's role itself.
type usersPage struct {
	env  *env
	keys usersKeys
	list listKeys
	w, h int

	seq    int
	loaded bool
	err    string
	all    []models.User
	rows   []int // indexes into all that pass the filter
	now    time.Time

	filterInput textinput.Model
	filtering   bool

	cursor, offset int

	dialogs
}

func newUsersPage(e *env) *usersPage {
	ti := newInput()
	ti.Prompt = "/"
	ti.Placeholder = "name, email or role"
	ti.CharLimit = 128
	return &usersPage{env: e, keys: newUsersKeys(), list: newListKeys(), filterInput: ti}
}

type usersLoadedMsg struct {
	seq   int
	users []models.User
	now   time.Time
	err   error
}

type usersDoneMsg struct {
	note string
	err  error
}

// userAskMsg carries what a dialog about u must say (tokens it would revoke).
type userAskMsg struct {
	what string
	u    models.User
	n    int
	err  error
}

func (p *usersPage) Title() string { return "Users" }

func (p *usersPage) Init() tea.Cmd { return p.Reload() }

func (p *usersPage) Reload() tea.Cmd {
	p.seq++
	seq, be, a := p.seq, p.env.be, p.env.actor
	return func() tea.Msg {
		us, err := be.ListUsers(a)
		return usersLoadedMsg{seq: seq, users: us, now: be.Now(), err: err}
	}
}

func (p *usersPage) SetSize(w, h int) { p.w, p.h = w, h }

func (p *usersPage) Capturing() bool { return p.filtering || p.dialogOpen() }

func (p *usersPage) tableHeight() int { return max(p.h-7, 1) }

func (p *usersPage) selected() (models.User, bool) {
	if p.cursor < 0 || p.cursor >= len(p.rows) {
		return models.User{}, false
	}
	return p.all[p.rows[p.cursor]], true
}

func (p *usersPage) applyFilter() {
	sel, _ := p.selected()
	q := strings.ToLower(strings.TrimSpace(p.filterInput.Value()))
	p.rows = p.rows[:0]
	for i, u := range p.all {
		if q == "" || strings.Contains(strings.ToLower(u.Name), q) || strings.Contains(u.Email, q) || strings.Contains(string(u.Role), q) {
			p.rows = append(p.rows, i)
		}
	}
	p.cursor = clamp(p.cursor, 0, max(len(p.rows)-1, 0))
	for i, idx := range p.rows {
		if p.all[idx].ID == sel.ID {
			p.cursor = i
		}
	}
}

func (p *usersPage) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case usersLoadedMsg:
		if msg.seq != p.seq {
			return p, nil
		}
		if msg.err != nil {
			p.err = errText(msg.err)
			return p, nil
		}
		p.loaded, p.err, p.all, p.now = true, "", msg.users, msg.now
		p.applyFilter()
		return p, nil

	case userAskMsg:
		if msg.err != nil {
			return p, flashErr(msg.err)
		}
		p.ask(msg)
		return p, nil

	case usersDoneMsg:
		if msg.err != nil {
			return p, p.fail(msg.err)
		}
		p.form = nil
		return p, tea.Batch(p.Reload(), flash(msg.note))

	case tea.KeyMsg:
		return p, p.handleKey(msg)
	}
	return p, nil
}

// ask opens the dialog for a change whose consequences had to be counted first.
func (p *usersPage) ask(msg userAskMsg) {
	u := msg.u
	name := clean(u.Name) + " (" + clean(u.Email) + ")"
	switch msg.what {
	case "remove":
		p.confirm = newConfirm("Remove "+name+"?", []string{
			fmt.Sprintf("%d usable %s held by %s will be revoked in the same step. Their audit history stays.",
				msg.n, plural(msg.n, "token", "tokens"), clean(u.Name)),
		}, func() tea.Cmd { return p.remove(u) })
	case "role":
		cur := 0
		for i, r := range rolesBelowOwner {
			if r == string(u.Role) {
				cur = i
			}
		}
		hint := "←/→ to choose"
		if msg.n > 0 {
			hint = fmt.Sprintf("stakeholder revokes their %d usable %s", msg.n, plural(msg.n, "token", "tokens"))
		}
		p.form = newForm("Change role of "+name, func(v []string) tea.Cmd { return p.setRole(u, v[0]) },
			choiceField("Role", hint, rolesBelowOwner, cur))
	}
}

func (p *usersPage) handleKey(msg tea.KeyMsg) tea.Cmd {
	switch {
	case p.dialogOpen():
		return p.updateDialog(msg)
	case p.filtering:
		switch {
		case key.Matches(msg, p.keys.Apply):
			p.filtering = false
			p.filterInput.Blur()
			return nil
		case key.Matches(msg, p.keys.Clear):
			p.filtering = false
			p.filterInput.Blur()
			p.filterInput.SetValue("")
			p.applyFilter()
			return nil
		}
		var cmd tea.Cmd
		p.filterInput, cmd = p.filterInput.Update(msg)
		sanitizeInput(&p.filterInput)
		p.applyFilter()
		return cmd
	}
	if c, ok := p.list.moveCursor(msg, p.cursor, len(p.rows), p.tableHeight()); ok {
		p.cursor = c
		return nil
	}
	u, ok := p.selected()
	be, a := p.env.be, p.env.actor
	switch {
	case key.Matches(msg, p.keys.Filter):
		p.filtering = true
		return p.filterInput.Focus()
	case key.Matches(msg, p.keys.Clear):
		if p.filterInput.Value() != "" {
			p.filterInput.SetValue("")
			p.applyFilter()
		}
	case key.Matches(msg, p.keys.Add):
		p.form = newForm("Add user", p.add,
			textField("Name", "1–64 characters", "Grace Hopper", models.MaxNameLen),
			textField("Email", "their login identity; must be unique", "grace@example.com", models.MaxEmailLen),
			choiceField("Role", "←/→ to choose; admins manage users, users hold tokens", rolesBelowOwner, 0),
			textField("SSH key", "optional: an authorized_keys line, lets them open the console over SSH", "ssh-ed25519 AAAA… grace@laptop", 8192))
	case !ok:
		return nil
	case key.Matches(msg, p.keys.Role):
		return func() tea.Msg {
			n, err := be.LiveTokenCount(a, u.ID)
			return userAskMsg{what: "role", u: u, n: n, err: err}
		}
	case key.Matches(msg, p.keys.Remove):
		return func() tea.Msg {
			n, err := be.LiveTokenCount(a, u.ID)
			return userAskMsg{what: "remove", u: u, n: n, err: err}
		}
	case key.Matches(msg, p.keys.AddKey):
		p.form = newForm("Add SSH key for "+clean(u.Name), func(v []string) tea.Cmd { return p.addKey(u, v[0]) },
			textField("Key", "paste one authorized_keys line (ssh-ed25519 AAAA… comment)", "ssh-ed25519 AAAA…", 8192))
	case key.Matches(msg, p.keys.RemoveKey):
		if len(u.Keys) == 0 {
			return flash(clean(u.Name) + " has no SSH keys; press s to add one")
		}
		labels := make([]string, len(u.Keys))
		for i, k := range u.Keys {
			labels[i] = keyLabel(k)
		}
		f := choiceField("Key", "←/→ to choose; they can no longer log in with it", labels, 0)
		f.vertical = true
		p.form = newForm("Remove an SSH key of "+clean(u.Name), func(v []string) tea.Cmd {
			for i, l := range labels {
				if l == v[0] {
					return p.removeKey(u, u.Keys[i])
				}
			}
			return nil
		}, f)
	}
	return nil
}

func keyLabel(k models.SSHKey) string {
	s := k.Type + " " + k.Fingerprint
	if k.Comment != "" {
		s += " " + clean(k.Comment)
	}
	return s
}

func (p *usersPage) add(v []string) tea.Cmd {
	be, a := p.env.be, p.env.actor
	return func() tea.Msg {
		nu := store.NewUser{Name: v[0], Email: v[1], Role: models.Role(v[2])}
		if v[3] != "" {
			nu.Keys = []string{v[3]}
		}
		u, err := be.AddUser(a, nu)
		if err != nil {
			return usersDoneMsg{err: err}
		}
		return usersDoneMsg{note: "Added " + clean(u.Name) + " as " + string(u.Role)}
	}
}

func (p *usersPage) setRole(u models.User, role string) tea.Cmd {
	be, a := p.env.be, p.env.actor
	return func() tea.Msg {
		n, err := be.SetRole(a, u.ID, models.Role(role))
		if err != nil {
			return usersDoneMsg{err: err}
		}
		note := clean(u.Name) + " is now " + role
		if n > 0 {
			note += fmt.Sprintf("; %d %s revoked", n, plural(n, "token", "tokens"))
		}
		return usersDoneMsg{note: note}
	}
}

func (p *usersPage) addKey(u models.User, text string) tea.Cmd {
	be, a := p.env.be, p.env.actor
	return func() tea.Msg {
		k, err := be.AddKey(a, u.ID, text)
		if err != nil {
			return usersDoneMsg{err: err}
		}
		return usersDoneMsg{note: "Added key " + k.Fingerprint + " for " + clean(u.Name)}
	}
}

func (p *usersPage) removeKey(u models.User, k models.SSHKey) tea.Cmd {
	be, a := p.env.be, p.env.actor
	return func() tea.Msg {
		err := be.RemoveKey(a, u.ID, k.Fingerprint)
		return usersDoneMsg{note: "Removed key " + k.Fingerprint + " of " + clean(u.Name), err: err}
	}
}

func (p *usersPage) remove(u models.User) tea.Cmd {
	be, a := p.env.be, p.env.actor
	return func() tea.Msg {
		n, err := be.RemoveUser(a, u.ID)
		if err != nil {
			return usersDoneMsg{err: err}
		}
		return usersDoneMsg{note: fmt.Sprintf("Removed %s; %d %s revoked", clean(u.Name), n, plural(n, "token", "tokens"))}
	}
}

func (p *usersPage) View() string {
	st := p.env.st
	head := "  " + st.Section.Render("Users") + st.Subtle.Render(fmt.Sprintf(" · %d people", len(p.all)))
	var filterLine string
	switch {
	case p.filtering:
		filterLine = "  " + p.filterInput.View()
	case p.filterInput.Value() != "":
		filterLine = "  " + st.Subtle.Render("filter: ") + st.Bold.Render(clean(p.filterInput.Value())) + st.Subtle.Render("  (esc clears)")
	default:
		filterLine = "  " + st.Subtle.Render("/ filter · a add · r role · s/S ssh keys · x remove")
	}
	lines := []string{"", head, filterLine, ""}
	switch {
	case p.dialogOpen():
		lines = append(lines, p.dialogView(st, p.w))
	case p.err != "":
		lines = append(lines, "  "+st.Error.Render(p.err))
	case !p.loaded:
		lines = append(lines, "  "+st.Subtle.Render("Loading…"))
	case len(p.rows) == 0:
		lines = append(lines, "  "+st.Empty.Render("Nobody matches — esc clears the filter, a adds a user."))
	default:
		lines = append(lines, p.table(), "", p.detail())
	}
	return strings.Join(lines, "\n")
}

func (p *usersPage) table() string {
	st := p.env.st
	cols := layoutColumns(p.w-3, []int{16, 22, 13, 4, 10}, []int{2, 3, 0, 0, 0},
		[]string{"NAME", "EMAIL", "ROLE", "KEYS", "ADDED"})
	h := p.tableHeight()
	p.offset = scrollOffset(p.cursor, p.offset, h, len(p.rows))
	// Only the visible rows are built: the list may hold 100,000 people.
	rows := make([][]cell, len(p.rows))
	for i := p.offset; i < len(p.rows) && i < p.offset+h; i++ {
		u := p.all[p.rows[i]]
		rows[i] = []cell{
			{text: clean(u.Name)},
			{text: clean(u.Email)},
			{text: u.Role.Title()},
			{text: fmt.Sprint(len(u.Keys))},
			{text: day(u.CreatedAt)},
		}
	}
	return renderTable(st, cols, rows, p.cursor, p.offset, h)
}

func (p *usersPage) detail() string {
	st := p.env.st
	u, ok := p.selected()
	if !ok {
		return ""
	}
	var ks []string
	for _, k := range u.Keys {
		ks = append(ks, keyLabel(k))
	}
	s := "no SSH keys (s adds one)"
	if len(ks) > 0 {
		s = strings.Join(ks, " · ")
	}
	return "  " + st.Subtle.Render(fit(s, max(p.w-4, 0)))
}

func (p *usersPage) ShortHelp() []key.Binding {
	switch {
	case p.dialogOpen():
		return p.dialogHelp()
	case p.filtering:
		return []key.Binding{p.keys.Apply, p.keys.Clear}
	}
	return []key.Binding{p.keys.Add, p.keys.Role, p.keys.AddKey, p.keys.Remove}
}

func (p *usersPage) FullHelp() [][]key.Binding {
	if p.Capturing() {
		return [][]key.Binding{p.ShortHelp()}
	}
	return [][]key.Binding{
		{p.list.Up, p.list.Down, p.list.Top, p.list.Bottom},
		{p.keys.Filter, p.keys.Clear},
		{p.keys.Add, p.keys.Role, p.keys.AddKey, p.keys.RemoveKey, p.keys.Remove},
	}
}
