package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/huh"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

type usersKeys struct {
	Add, Role, AddKey, RemoveKey, Remove, Transfer, Tokens, Filter, Apply, Clear key.Binding
}

func newUsersKeys() usersKeys {
	return usersKeys{
		Add:       key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "add user")),
		Role:      key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "change role")),
		AddKey:    key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "add SSH key")),
		RemoveKey: key.NewBinding(key.WithKeys("S"), key.WithHelp("S", "remove SSH key")),
		Remove:    key.NewBinding(key.WithKeys("x", "delete"), key.WithHelp("x", "remove user")),
		Transfer:  key.NewBinding(key.WithKeys("O"), key.WithHelp("O", "make Account Owner")),
		Tokens:    key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "their tokens")),
		Filter:    key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Apply:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "keep filter")),
		Clear:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
	}
}

// rolesBelowOwner are the roles a form can grant; ownership moves by transfer.
var rolesBelowOwner = []models.Role{models.RoleUser, models.RoleAdmin, models.RoleStakeholder}

// usersMode is what Users is doing.
type usersMode int

const (
	usrList usersMode = iota
	usrFilter
	usrDialog
)

// usersPage lists the organization's people and manages them (owner and
// admins). Each change is a store call that checks the actor's role itself;
// the page asks the same rules first so it never offers what is refused.
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
	sc     scroller

	filter liveInput
	mode   usersMode
	dialogs
}

func newUsersPage(e *env) *usersPage {
	ti := newInput(e.st, "/", "a name, email or role", 128)
	return &usersPage{env: e, keys: newUsersKeys(), list: newListKeys(), filter: liveInput{input: ti}}
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

// showTokensMsg asks the root to open API Tokens filtered to one person.
type showTokensMsg struct{ filter string }

func (p *usersPage) Title() string { return "Users" }

func (p *usersPage) Init() tea.Cmd { return p.Reload() }

// Concerns: changes to names, roles, keys or membership.
func (p *usersPage) Concerns(ev store.Event) bool { return usersConcerned(ev) }

// usersConcerned is Concerns without a page (see lazyPage).
func usersConcerned(ev store.Event) bool { return peopleChanged(ev.Type) }

func (p *usersPage) Reload() tea.Cmd {
	p.seq++
	seq, be, a := p.seq, p.env.be, p.env.actor
	return func() tea.Msg {
		us, err := be.ListUsers(a)
		return usersLoadedMsg{seq: seq, users: us, now: be.Now(), err: err}
	}
}

// top is what the list draws above the table.
func (p *usersPage) top() []string {
	st := p.env.st
	count := fmt.Sprintf(" · %d people", len(p.all))
	if p.filter.applied != "" {
		count = fmt.Sprintf(" · %d of %d people match", len(p.rows), len(p.all))
	}
	head := "  " + st.Section.Render("Users") + st.Subtle.Render(clip(count, max(p.w-9, 0)))
	var filterLine string
	switch {
	case p.mode == usrFilter:
		filterLine = "  " + p.filter.input.View()
	case p.filter.applied != "":
		filterLine = "  " + st.Subtle.Render("filter: ") + st.Bold.Render(clip(clean(p.filter.applied), p.w-30)) + st.Subtle.Render("  (esc clears)")
	default:
		filterLine = "  " + st.Subtle.Render(clip(p.hint(), p.w-4))
	}
	return []string{"", head, filterLine, ""}
}

// bottom is what the list draws below the table.
func (p *usersPage) bottom() []string {
	return []string{"", p.detail(), "  " + p.env.st.Subtle.Render(p.sc.position("person", "people"))}
}

func (p *usersPage) SetSize(w, h int) bool {
	p.w, p.h = w, h
	p.sc.setHeight(tableRows(h, p.top(), p.bottom()))
	p.filter.input.Width = max(w-8, 10)
	p.resizeDialog(w)
	return false
}

func (p *usersPage) Capturing() bool { return p.mode != usrList }

func (p *usersPage) selected() (models.User, bool) {
	if p.sc.cursor < 0 || p.sc.cursor >= len(p.rows) {
		return models.User{}, false
	}
	return p.all[p.rows[p.sc.cursor]], true
}

// applyFilter narrows the list to the filter's current text, keeping the
// selected person selected when they still match.
func (p *usersPage) applyFilter() {
	sel, _ := p.selected()
	q := strings.ToLower(p.filter.value())
	p.rows = p.rows[:0]
	for i, u := range p.all {
		if q == "" || strings.Contains(strings.ToLower(u.Name), q) || strings.Contains(u.Email, q) || strings.Contains(string(u.Role), q) {
			p.rows = append(p.rows, i)
		}
	}
	p.sc.setLen(len(p.rows))
	for i, idx := range p.rows {
		if p.all[idx].ID == sel.ID {
			p.sc.to(i)
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
		return p, p.ask(msg)

	case usersDoneMsg:
		if msg.err != nil {
			if p.mode == usrDialog {
				return p, p.fail(msg.err)
			}
			return p, flashErr(msg.err)
		}
		p.closeDialog()
		p.mode = usrList
		return p, tea.Batch(p.Reload(), flash(msg.note))

	case tea.KeyMsg:
		return p, p.handleKey(msg)
	}
	if p.mode == usrDialog {
		_, cmd := p.updateDialog(msg)
		return p, cmd
	}
	return p, nil
}

// ask opens the dialog for a change whose consequences had to be counted first.
func (p *usersPage) ask(msg userAskMsg) tea.Cmd {
	u := msg.u
	name := clean(u.Name) + " (" + clean(u.Email) + ")"
	p.mode = usrDialog
	switch msg.what {
	case "remove":
		held := fmt.Sprintf("%d usable %s held by %s will be revoked in the same step.",
			msg.n, plural(msg.n, "token", "tokens"), clean(u.Name))
		if msg.n == 0 {
			held = clean(u.Name) + " holds no usable tokens."
		}
		p.openConfirm(newConfirm("Remove "+name+"?", []string{held + " Their audit history stays."},
			func() tea.Cmd { return p.remove(u) }), p.w, nil)
	case "role":
		return p.roleForm(u, msg.n, u.Role)
	case "demote":
		p.demoteConfirm(u, msg.n)
	case "transfer":
		p.openConfirm(newTypedConfirm(p.env.st, "Make "+name+" the Account Owner?", []string{
			"There is one Account Owner: you become an admin, and only they can give it back. They see every token and the whole audit log.",
		}, clean(u.Email), func() tea.Cmd { return p.transfer(u) }), p.w, nil)
	}
	return nil
}

// roleForm asks for the new role; demoting to stakeholder with tokens
// to lose asks again, with the count.
func (p *usersPage) roleForm(u models.User, n int, role models.Role) tea.Cmd {
	name := clean(u.Name) + " (" + clean(u.Email) + ")"
	var opts []huh.Option[models.Role]
	for _, r := range rolesBelowOwner {
		if models.AuthorizeGrant(p.env.subject(), r) == nil {
			opts = append(opts, huh.NewOption(r.Title(), r))
		}
	}
	desc := "←/→ to choose"
	if n > 0 {
		desc = fmt.Sprintf("stakeholders hold no tokens: their %d usable %s would be revoked", n, plural(n, "token", "tokens"))
	}
	f := newFormDialog(p.env.st, "Change role of "+name, func() []huh.Field {
		return []huh.Field{huh.NewSelect[models.Role]().Title("Role").Description(desc).Value(&role).Options(opts...).Inline(true)}
	}, func() tea.Cmd {
		if role == models.RoleStakeholder && n > 0 && u.Role != models.RoleStakeholder {
			return func() tea.Msg { return userAskMsg{what: "demote", u: u, n: n} }
		}
		return p.setRole(u, role)
	})
	p.mode = usrDialog
	return p.openForm(f, p.w, nil)
}

func (p *usersPage) demoteConfirm(u models.User, n int) {
	p.openConfirm(newConfirm("Make "+clean(u.Name)+" a stakeholder?", []string{
		fmt.Sprintf("Stakeholders hold no tokens: %s\u2019s %d usable %s will be revoked at once, with every access token made from %s. This cannot be undone.",
			clean(u.Name), n, plural(n, "token", "tokens"), plural(n, "it", "them")),
	}, func() tea.Cmd { return p.setRole(u, models.RoleStakeholder) }), p.w, func() tea.Cmd { return p.roleForm(u, n, models.RoleStakeholder) })
}

func (p *usersPage) subjectOf(u models.User) *models.Subject {
	s := u.Subject()
	return &s
}

// can reports whether k acts on the selected person now.
func (p *usersPage) can(k key.Binding) bool {
	u, ok := p.selected()
	switch {
	case sameKey(k, p.keys.Add):
		return p.env.may(models.ActUserAdd, nil)
	case !ok:
		return false
	case sameKey(k, p.keys.Role):
		return p.env.may(models.ActUserSetRole, p.subjectOf(u))
	case sameKey(k, p.keys.AddKey), sameKey(k, p.keys.RemoveKey):
		act := models.ActUserManageKeys
		if u.ID == p.env.actor.UserID {
			act = models.ActUserManageOwnKeys
		}
		if sameKey(k, p.keys.RemoveKey) && len(u.Keys) == 0 {
			return false
		}
		return p.env.may(act, p.subjectOf(u))
	case sameKey(k, p.keys.Remove):
		return p.env.may(models.ActUserRemove, p.subjectOf(u))
	case sameKey(k, p.keys.Transfer):
		_, ok := p.env.be.(ownershipMover)
		return ok && p.env.may(models.ActOwnershipTransfer, p.subjectOf(u))
	case sameKey(k, p.keys.Tokens):
		return p.env.may(models.ActTokenListAll, nil) && u.Role.CanHoldTokens()
	}
	return false
}

// ownershipMover is a backend that can transfer ownership (the store can).
type ownershipMover interface {
	TransferOwnership(a store.Actor, ref string) error
}

func (p *usersPage) handleKey(msg tea.KeyMsg) tea.Cmd {
	switch p.mode {
	case usrDialog:
		closed, cmd := p.updateDialog(msg)
		if closed && p.cur == nil {
			p.mode = usrList
		}
		return cmd
	case usrFilter:
		_, done, cmd := p.filter.key(msg, p.keys.Apply, p.keys.Clear)
		if done {
			p.mode = usrList
		}
		p.filter.commit()
		p.applyFilter()
		return cmd
	}
	if p.list.handleListKey(msg, &p.sc) {
		return nil
	}
	for _, k := range []key.Binding{p.keys.Add, p.keys.Role, p.keys.AddKey, p.keys.RemoveKey, p.keys.Remove, p.keys.Transfer, p.keys.Tokens} {
		if key.Matches(msg, k) && !p.can(k) {
			return nil
		}
	}
	u, _ := p.selected()
	be, a := p.env.be, p.env.actor
	count := func(what string) tea.Cmd {
		return func() tea.Msg {
			n, err := be.LiveTokenCount(a, u.ID)
			return userAskMsg{what: what, u: u, n: n, err: err}
		}
	}
	switch {
	case key.Matches(msg, p.list.PageDown):
		p.sc.move(p.sc.height)
	case key.Matches(msg, p.list.PageUp):
		p.sc.move(-p.sc.height)
	case key.Matches(msg, p.keys.Filter):
		p.mode = usrFilter
		return p.filter.edit()
	case key.Matches(msg, p.keys.Clear):
		if p.filter.applied != "" {
			p.filter.reset()
			p.applyFilter()
		}
	case key.Matches(msg, p.keys.Add):
		return p.addForm()
	case key.Matches(msg, p.keys.Role):
		return count("role")
	case key.Matches(msg, p.keys.Remove):
		return count("remove")
	case key.Matches(msg, p.keys.Transfer):
		return func() tea.Msg { return userAskMsg{what: "transfer", u: u} }
	case key.Matches(msg, p.keys.Tokens):
		email := u.Email
		return func() tea.Msg { return showTokensMsg{filter: email} }
	case key.Matches(msg, p.keys.AddKey):
		var text string
		f := newFormDialog(p.env.st, "Add an SSH key for "+clean(u.Name), func() []huh.Field {
			return []huh.Field{keyField(&text, false)}
		}, func() tea.Cmd { return p.addKey(u, text) })
		p.mode = usrDialog
		return p.openForm(f, p.w, nil)
	case key.Matches(msg, p.keys.RemoveKey):
		var fp string
		room := dialogWidth(p.w) - 6
		opts := make([]huh.Option[string], len(u.Keys))
		for i, k := range u.Keys {
			opts[i] = huh.NewOption(clip(keyLabel(k), room), k.Fingerprint)
		}
		f := newFormDialog(p.env.st, "Remove an SSH key of "+clean(u.Name), func() []huh.Field {
			return []huh.Field{huh.NewSelect[string]().Title("Key").Description("↑/↓ to choose; they can no longer log in with it").Value(&fp).Options(opts...)}
		}, func() tea.Cmd { return p.removeKey(u, fp) })
		p.mode = usrDialog
		return p.openForm(f, p.w, nil)
	}
	return nil
}

// keyField is an authorized_keys line, validated as it is typed. optional
// lets it be left empty.
func keyField(v *string, optional bool) huh.Field {
	desc := "Paste one authorized_keys line (ssh-ed25519 AAAA… comment)"
	if optional {
		desc = "Optional: lets them open the console over SSH"
	}
	return huh.NewInput().Title("SSH key").Description(desc).Placeholder("e.g. ssh-ed25519 AAAA… grace@laptop").
		CharLimit(16 * 1024).Value(v).Validate(func(s string) error {
		if optional && strings.TrimSpace(s) == "" {
			return nil
		}
		_, err := models.ParseSSHKey(s)
		return err
	})
}

func (p *usersPage) addForm() tea.Cmd {
	var name, email, keyText string
	role := models.RoleUser
	var opts []huh.Option[models.Role]
	for _, r := range rolesBelowOwner {
		if models.AuthorizeGrant(p.env.subject(), r) == nil {
			opts = append(opts, huh.NewOption(r.Title(), r))
		}
	}
	f := newFormDialog(p.env.st, "Add user", func() []huh.Field {
		return []huh.Field{
			nameField("Name", "1–64 characters", "Grace Hopper", &name),
			huh.NewInput().Title("Email").Description("Their login identity; must be unique").Placeholder("e.g. grace@example.com").
				CharLimit(models.MaxEmailLen).Value(&email).Validate(func(s string) error { _, err := models.NormalizeEmail(s); return err }),
			huh.NewSelect[models.Role]().Title("Role").Description("Admins manage users; users hold tokens").Value(&role).Options(opts...).Inline(true),
			keyField(&keyText, true),
		}
	}, func() tea.Cmd { return p.add(name, email, role, keyText) })
	p.mode = usrDialog
	return p.openForm(f, p.w, nil)
}

func keyLabel(k models.SSHKey) string {
	s := k.Type + " " + k.Fingerprint
	if k.Comment != "" {
		s += " " + clean(k.Comment)
	}
	if k.Pending {
		s += " (pending their approval)"
	}
	return s
}

func (p *usersPage) add(name, email string, role models.Role, keyText string) tea.Cmd {
	be, a := p.env.be, p.env.actor
	return func() tea.Msg {
		nu := store.NewUser{Name: name, Email: email, Role: role}
		if strings.TrimSpace(keyText) != "" {
			nu.Keys = []string{keyText}
		}
		u, err := be.AddUser(a, nu)
		if err != nil {
			return usersDoneMsg{err: err}
		}
		return usersDoneMsg{note: "Added " + clean(u.Name) + " as " + u.Role.Title()}
	}
}

func (p *usersPage) setRole(u models.User, role models.Role) tea.Cmd {
	be, a := p.env.be, p.env.actor
	return func() tea.Msg {
		n, err := be.SetRole(a, u.ID, role)
		if err != nil {
			return usersDoneMsg{err: err}
		}
		note := clean(u.Name) + " is now " + role.Title()
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
		if k.Pending {
			// Someone else's key for a person who has one waits for them.
			return usersDoneMsg{note: "Added key " + k.Fingerprint + " for " + clean(u.Name) + "; it logs in once they approve it (user approve-key)"}
		}
		return usersDoneMsg{note: "Added key " + k.Fingerprint + " for " + clean(u.Name)}
	}
}

func (p *usersPage) removeKey(u models.User, fp string) tea.Cmd {
	be, a := p.env.be, p.env.actor
	return func() tea.Msg {
		err := be.RemoveKey(a, u.ID, fp)
		return usersDoneMsg{note: "Removed key " + fp + " of " + clean(u.Name), err: err}
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

func (p *usersPage) transfer(u models.User) tea.Cmd {
	be, a := p.env.be, p.env.actor
	return func() tea.Msg {
		m, ok := be.(ownershipMover)
		if !ok {
			return usersDoneMsg{err: fmt.Errorf("%w: this backend cannot transfer ownership", models.ErrInvalid)}
		}
		if err := m.TransferOwnership(a, u.ID); err != nil {
			return usersDoneMsg{err: err}
		}
		return usersDoneMsg{note: clean(u.Name) + " is now the Account Owner; you are an admin"}
	}
}

func (p *usersPage) View() string {
	st := p.env.st
	if p.mode == usrDialog {
		// A dialog gets the whole page: the add-user form is tall at 80×23.
		return "\n" + p.dialogView(st, p.w)
	}
	lines := p.top()
	switch {
	case p.err != "":
		lines = append(lines, "  "+st.Error.Render(clip(p.err, p.w-4)))
	case !p.loaded:
		lines = append(lines, "  "+st.Subtle.Render("Loading…"))
	case len(p.rows) == 0:
		lines = append(lines, "  "+st.Empty.Render("Nobody matches — esc clears the filter."))
	default:
		lines = append(append(lines, p.table()), p.bottom()...)
	}
	return strings.Join(lines, "\n")
}

// hint lists the keys that act on the selected person.
func (p *usersPage) hint() string {
	parts := []string{"/ filter"}
	for _, k := range []key.Binding{p.keys.Add, p.keys.Role, p.keys.AddKey, p.keys.Remove, p.keys.Tokens} {
		if p.can(k) {
			parts = append(parts, k.Help().Key+" "+strings.TrimSuffix(k.Help().Desc, " user"))
		}
	}
	return strings.Join(parts, " · ")
}

func (p *usersPage) table() string {
	st := p.env.st
	cols := layoutColumns(p.w-3, []int{16, 22, 13, 4, 10}, []int{2, 3, 0, 0, 0},
		[]string{"NAME", "EMAIL", "ROLE", "KEYS", "ADDED"})
	return renderTable(st, cols, func(i int) []cell {
		u := p.all[p.rows[i]]
		return []cell{
			{text: clean(u.Name)},
			{text: clean(u.Email)},
			{text: u.Role.Title()},
			{text: fmt.Sprint(len(u.Keys))},
			{text: day(u.CreatedAt)},
		}
	}, p.sc)
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
	s := "no SSH keys"
	if p.can(p.keys.AddKey) {
		s += " (s adds one)"
	}
	if len(ks) > 0 {
		s = strings.Join(ks, " · ")
	}
	return "  " + st.Subtle.Render(clip(s, max(p.w-4, 0)))
}

func (p *usersPage) ShortHelp() []key.Binding {
	switch p.mode {
	case usrDialog:
		return p.dialogHelp()
	case usrFilter:
		return []key.Binding{p.keys.Apply, p.keys.Clear}
	}
	var ks []key.Binding
	for _, k := range []key.Binding{p.keys.Add, p.keys.Role, p.keys.AddKey, p.keys.Remove} {
		if p.can(k) {
			ks = append(ks, k)
		}
	}
	return ks
}

func (p *usersPage) FullHelp() [][]key.Binding {
	if p.Capturing() {
		return [][]key.Binding{p.ShortHelp()}
	}
	nav := []key.Binding{p.list.Up, p.list.Down, p.list.Top, p.list.Bottom}
	if p.sc.n > p.sc.height {
		nav = append(nav, p.list.PageUp, p.list.PageDown)
	}
	list := []key.Binding{p.keys.Filter}
	if p.filter.applied != "" {
		list = append(list, p.keys.Clear)
	}
	var acts []key.Binding
	for _, k := range []key.Binding{p.keys.Add, p.keys.Role, p.keys.AddKey, p.keys.RemoveKey, p.keys.Remove, p.keys.Transfer, p.keys.Tokens} {
		if p.can(k) {
			acts = append(acts, k)
		}
	}
	return [][]key.Binding{nav, list, acts}
}

// Click selects the row at y.
func (p *usersPage) Click(y int) tea.Cmd {
	if p.mode != usrList {
		return nil
	}
	p.sc.click(y, lineCount(p.top()))
	return nil
}
