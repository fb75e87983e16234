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

type tokensKeys struct {
	Filter, Sort, SortCol, Assign, Revoke, RevokeAll, Rename, Clear, Apply key.Binding
}

func newTokensKeys() tokensKeys {
	return tokensKeys{
		Filter:    key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Sort:      key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "reverse order")),
		SortCol:   key.NewBinding(key.WithKeys("o"), key.WithHelp("o", "sort by next column")),
		Assign:    key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "assign")),
		Revoke:    key.NewBinding(key.WithKeys("x", "delete"), key.WithHelp("x", "revoke")),
		RevokeAll: key.NewBinding(key.WithKeys("X"), key.WithHelp("X", "revoke all theirs")),
		Rename:    key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "rename")),
		Clear:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
		Apply:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "keep filter")),
	}
}

// tokensMode is what API Tokens is doing.
type tokensMode int

const (
	tokList   tokensMode = iota
	tokFilter            // typing in the filter
	tokPicker            // choosing people to assign to
	tokDialog            // a form or confirmation
)

// tokensPage is Settings › API Tokens: every token of the organization, one
// screenful at a time, in the store's order (creation time), filtered by the
// store over the whole list. Only the owner sees the tab; the store refuses
// the listing to anyone else regardless.
type tokensPage struct {
	env  *env
	keys tokensKeys
	list listKeys
	w, h int

	seq     int
	loaded  bool
	loading bool // a query is out; the rows shown are the previous ones
	err     string
	rows    []store.TokenView
	now     time.Time
	next    string   // cursor of the following page, "" on the last
	cursors []string // After value of each page visited; cursors[pageNo] is this page's
	pageNo  int
	oldest  bool // creation order: oldest first
	sortCol int  // index into tokenSortCols; 0 is creation order
	desc    bool // for a column sort: Z→A
	sc      scroller

	filter liveInput

	mode   tokensMode
	picker *picker
	picked []models.User
	// the assign form's values, kept across going back and forth
	assignName, assignExp string
	dialogs
}

func newTokensPage(e *env) *tokensPage {
	ti := newInput(e.st, "/", "a name, holder, email, status or id", 128)
	return &tokensPage{env: e, keys: newTokensKeys(), list: newListKeys(), filter: liveInput{input: ti}, cursors: []string{""}}
}

type tokensLoadedMsg struct {
	seq  int
	page store.TokenPage
	now  time.Time
	err  error
}

type assigneesMsg struct {
	users []models.User
	err   error
}

// assignCountsMsg carries each picked person's usable-token count.
type assignCountsMsg struct {
	counts []int
	err    error
}

type tokensDoneMsg struct {
	note string
	err  error
}

type revokeAllAskMsg struct {
	holder store.TokenView
	n      int
	err    error
}

// tokenSortCols are the orders o cycles through: creation (the store's
// natural order, the fast one), then by column over the whole list.
var tokenSortCols = []struct{ key, column, label string }{
	{"", "CREATED", "created"},
	{"name", "NAME", "name"},
	{"holder", "HOLDER", "holder"},
	{"status", "STATUS", "status"},
	{"expires", "EXPIRES", "expiry"},
}

// tokensFilterMsg applies the filter once typing paused (gen matches).
type tokensFilterMsg struct{ gen int }

func (p *tokensPage) Title() string { return "API Tokens" }

func (p *tokensPage) Init() tea.Cmd { return p.Reload() }

// Concerns: any token change, and people changes (names and emails shown).
func (p *tokensPage) Concerns(ev store.Event) bool { return tokensConcerned(ev) }

// tokensConcerned is Concerns without a page (see lazyPage).
func tokensConcerned(ev store.Event) bool { return len(ev.TokenIDs) > 0 || peopleChanged(ev.Type) }

// peopleChanged: event types that change names, roles or membership.
func peopleChanged(typ string) bool {
	switch typ {
	case models.AuditOrgCreated, models.AuditUserAdded, models.AuditUserRemoved, models.AuditRoleChanged,
		models.AuditKeyAdded, models.AuditKeyRemoved, models.AuditUsersImported, models.AuditOwnershipMoved:
		return true
	}
	return false
}

// tableHeight is the rows one page holds: the store reads exactly that many.
func (p *tokensPage) tableHeight() int { return tableRows(p.h, p.top(), p.bottom()) }

// top is what the list draws above the table.
func (p *tokensPage) top() []string {
	st := p.env.st
	busy := ""
	if p.loading && p.loaded {
		busy = " · loading…" // a sort or filter over a million tokens takes seconds
	}
	head := "  " + st.Section.Render("API Tokens") + st.Subtle.Render(clip(" · the whole organization · "+p.orderText()+busy, max(p.w-14, 0)))
	var filterLine string
	switch {
	case p.mode == tokFilter:
		filterLine = "  " + p.filter.input.View()
	case p.filter.applied != "":
		filterLine = "  " + st.Subtle.Render("filter: ") + st.Bold.Render(clip(clean(p.filter.applied), p.w-30)) + st.Subtle.Render("  (esc clears)")
	default:
		filterLine = "  " + st.Subtle.Render("/ filter · o sort by column · s reverse · a assign")
	}
	return []string{"", head, filterLine, ""}
}

// bottom is what the list draws below the table.
func (p *tokensPage) bottom() []string { return []string{"", p.detail(), p.pager()} }

func (p *tokensPage) Reload() tea.Cmd {
	p.seq++
	p.loading = true
	seq, be, a := p.seq, p.env.be, p.env.actor
	q := store.TokenQuery{All: true, Filter: p.filter.applied, Oldest: p.oldest, After: p.cursors[p.pageNo], Limit: p.tableHeight(),
		Sort: tokenSortCols[p.sortCol].key, Desc: p.desc}
	return func() tea.Msg {
		pg, err := be.ListTokens(a, q)
		return tokensLoadedMsg{seq: seq, page: pg, now: be.Now(), err: err}
	}
}

// restart goes back to the first page, e.g. after the filter or order changed.
func (p *tokensPage) restart() tea.Cmd {
	p.cursors, p.pageNo = []string{""}, 0
	p.sc.reset()
	return p.Reload()
}

func (p *tokensPage) SetSize(w, h int) bool {
	old := p.tableHeight()
	p.w, p.h = w, h
	p.sc.setHeight(p.tableHeight())
	p.filter.input.Width = max(w-8, 10)
	if p.picker != nil {
		p.picker.setSize(w-4, h-1)
	}
	p.resizeDialog(w)
	return p.tableHeight() != old
}

func (p *tokensPage) Capturing() bool { return p.mode != tokList }

func (p *tokensPage) selected() (store.TokenView, bool) {
	if p.sc.cursor < 0 || p.sc.cursor >= len(p.rows) {
		return store.TokenView{}, false
	}
	return p.rows[p.sc.cursor], true
}

func (p *tokensPage) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tokensLoadedMsg:
		if msg.seq != p.seq {
			return p, nil
		}
		p.loading = false
		if msg.err != nil {
			p.err = errText(msg.err)
			return p, nil
		}
		sel, _ := p.selected()
		p.loaded, p.err, p.rows, p.next, p.now = true, "", msg.page.Tokens, msg.page.Next, msg.now
		if len(p.rows) == 0 && p.pageNo > 0 {
			// The page emptied under us (revokes do not remove rows, but a
			// filter can): step back rather than show a blank page.
			p.pageNo--
			p.cursors = p.cursors[:p.pageNo+1]
			return p, p.Reload()
		}
		p.sc.setLen(len(p.rows))
		for i, t := range p.rows {
			if t.ID == sel.ID {
				p.sc.to(i)
			}
		}
		return p, nil

	case tokensFilterMsg:
		if p.filter.debounceDue(msg.gen) {
			return p, p.restart()
		}
		return p, nil

	case assigneesMsg:
		if p.picker == nil {
			return p, nil
		}
		if msg.err != nil {
			p.picker, p.mode = nil, tokList
			return p, flashErr(msg.err)
		}
		p.picker.setUsers(msg.users)
		return p, p.picker.wantCounts(p.env)

	case pickerCountsMsg:
		if p.picker != nil {
			p.picker.addCounts(msg.counts)
		}
		return p, nil

	case assignCountsMsg:
		return p, p.askAssign(msg)

	case revokeAllAskMsg:
		if msg.err != nil {
			return p, flashErr(msg.err)
		}
		h := msg.holder
		if msg.n == 0 {
			return p, flash(clean(h.HolderName) + " holds no usable tokens; nothing to revoke")
		}
		p.mode = tokDialog
		p.openConfirm(newTypedConfirm(p.env.st, "Revoke all tokens of "+clean(h.HolderName)+"?",
			[]string{fmt.Sprintf("%d usable %s of %s will be revoked at once, with every access token made from %s. This cannot be undone.",
				msg.n, plural(msg.n, "token", "tokens"), clean(h.HolderEmail), plural(msg.n, "it", "them"))},
			clean(h.HolderEmail), func() tea.Cmd { return p.revokeAll(h) }), p.w, nil)
		return p, nil

	case tokensDoneMsg:
		if msg.err != nil {
			if p.mode == tokDialog {
				return p, p.fail(msg.err)
			}
			return p, flashErr(msg.err)
		}
		p.closeDialog()
		p.mode, p.picked, p.assignName, p.assignExp = tokList, nil, "", ""
		return p, tea.Batch(p.Reload(), flash(msg.note))

	case tea.KeyMsg:
		return p, p.handleKey(msg)
	}
	if p.mode == tokDialog {
		_, cmd := p.updateDialog(msg)
		return p, cmd
	}
	return p, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// holderOf is a token's holder as the permission rules see them.
func holderOf(t store.TokenView) *models.Subject {
	return &models.Subject{ID: t.HolderID, Role: t.Role}
}

// can reports whether k acts on the selected token now (rules and status).
func (p *tokensPage) can(k key.Binding) bool {
	t, ok := p.selected()
	switch {
	case sameKey(k, p.keys.Assign):
		return p.env.me.Role != "" && models.RoleMay(p.env.me.Role, models.ActTokenAssign)
	case !ok:
		return false
	case sameKey(k, p.keys.Revoke):
		act := models.ActTokenRevokeAny
		if t.HolderID == p.env.actor.UserID {
			act = models.ActTokenRevokeOwn
		}
		return t.Status.Usable() && p.env.may(act, holderOf(t))
	case sameKey(k, p.keys.RevokeAll):
		return p.env.may(models.ActTokenRevokeAllOf, holderOf(t))
	case sameKey(k, p.keys.Rename):
		_, ok := p.env.be.(tokenRenamer)
		return ok && t.Status.Usable() && t.HolderID == p.env.actor.UserID
	}
	return false
}

func (p *tokensPage) handleKey(msg tea.KeyMsg) tea.Cmd {
	switch p.mode {
	case tokPicker:
		return p.pickerKey(msg)
	case tokDialog:
		closed, cmd := p.updateDialog(msg)
		if closed && p.cur == nil && p.mode == tokDialog {
			p.mode = tokList
		}
		return cmd
	case tokFilter:
		restart, done, cmd := p.filter.handle(p.env, msg, p.keys.Apply, p.keys.Clear, func(gen int) tea.Msg { return tokensFilterMsg{gen: gen} })
		if done {
			p.mode = tokList
		}
		if restart {
			return p.restart()
		}
		return cmd
	}
	if p.list.handleListKey(msg, &p.sc) {
		return nil
	}
	for _, k := range []key.Binding{p.keys.Assign, p.keys.Revoke, p.keys.RevokeAll, p.keys.Rename} {
		if key.Matches(msg, k) && !p.can(k) {
			return nil
		}
	}
	t, _ := p.selected()
	switch {
	case key.Matches(msg, p.list.PageDown):
		if p.next != "" {
			p.cursors = append(p.cursors[:p.pageNo+1], p.next)
			p.pageNo++
			p.sc.reset()
			return p.Reload()
		}
	case key.Matches(msg, p.list.PageUp):
		if p.pageNo > 0 {
			p.pageNo--
			p.sc.reset()
			return p.Reload()
		}
	case key.Matches(msg, p.keys.Filter):
		p.mode = tokFilter
		return p.filter.edit()
	case key.Matches(msg, p.keys.Clear):
		if p.filter.applied != "" {
			p.filter.reset()
			return p.restart()
		}
	case key.Matches(msg, p.keys.Sort):
		if p.sortCol == 0 {
			p.oldest = !p.oldest
		} else {
			p.desc = !p.desc
		}
		return p.restart()
	case key.Matches(msg, p.keys.SortCol):
		p.sortCol = (p.sortCol + 1) % len(tokenSortCols)
		p.desc = false
		return p.restart()
	case key.Matches(msg, p.keys.Assign):
		p.picked, p.assignName, p.assignExp = nil, "", ""
		return p.openPicker(nil)
	case key.Matches(msg, p.keys.Revoke):
		title := "Revoke " + clean(t.HolderName) + "\u2019s token " + quote(t.Name) + "?"
		if t.HolderID == p.env.actor.UserID {
			title = "Revoke your token " + quote(t.Name) + "?"
		}
		p.mode = tokDialog
		p.openConfirm(newConfirm(title,
			[]string{"Anything using " + clean(t.Masked) + " stops working at once, including access tokens made from it. This cannot be undone."},
			func() tea.Cmd { return p.revoke(t) }), p.w, nil)
	case key.Matches(msg, p.keys.RevokeAll):
		be, a := p.env.be, p.env.actor
		return func() tea.Msg {
			n, err := be.LiveTokenCount(a, t.HolderID)
			return revokeAllAskMsg{holder: t, n: n, err: err}
		}
	case key.Matches(msg, p.keys.Rename):
		name := t.Name
		f := newFormDialog(p.env.st, "Rename token "+quote(t.Name), func() []huh.Field {
			return []huh.Field{nameField("Name", "The secret stays the same", "ci deploy", &name)}
		}, func() tea.Cmd {
			return renameToken(p.env, t, name, func(note string, err error) tea.Msg { return tokensDoneMsg{note: note, err: err} })
		})
		p.mode = tokDialog
		return p.openForm(f, p.w, nil)
	}
	return nil
}

// openPicker shows the assignee picker, keeping an earlier selection.
func (p *tokensPage) openPicker(keep []models.User) tea.Cmd {
	p.mode = tokPicker
	if p.picker != nil && keep != nil {
		return nil
	}
	p.picker = newPicker(p.env.st)
	p.picker.setSize(p.w-4, p.h-1)
	be, a := p.env.be, p.env.actor
	return func() tea.Msg {
		us, err := be.Assignees(a)
		return assigneesMsg{users: us, err: err}
	}
}

func (p *tokensPage) pickerKey(msg tea.KeyMsg) tea.Cmd {
	done, picked, cmd := p.picker.update(msg)
	if !done {
		return tea.Batch(cmd, p.picker.wantCounts(p.env))
	}
	if picked == nil {
		p.picker, p.picked, p.mode = nil, nil, tokList
		return nil
	}
	p.picked = picked
	return p.openAssignForm("")
}

// openAssignForm is step 2 of assigning: the token's name and expiry, with
// the name validated as it is typed. esc goes back to the picker.
func (p *tokensPage) openAssignForm(problem string) tea.Cmd {
	n := len(p.picked)
	f := newFormDialog(p.env.st, fmt.Sprintf("New token for %d %s", n, plural(n, "person", "people")), func() []huh.Field {
		return []huh.Field{
			nameField("Name", "The same name for everyone (1–64 characters)", "reporting", &p.assignName),
			expiryField(&p.assignExp),
		}
	}, func() tea.Cmd { return p.countPicked() })
	f.err = problem
	p.mode = tokDialog
	return p.openForm(f, p.w, func() tea.Cmd { return p.openPicker(p.picked) })
}

// countPicked asks how many usable tokens each picked person holds, so the
// confirmation can name anyone at the limit before anything is written.
func (p *tokensPage) countPicked() tea.Cmd {
	be, a := p.env.be, p.env.actor
	picked := p.picked
	return func() tea.Msg {
		counts := make([]int, len(picked))
		for i, u := range picked {
			n, err := be.LiveTokenCount(a, u.ID)
			if err != nil {
				return assignCountsMsg{err: err}
			}
			counts[i] = n
		}
		return assignCountsMsg{counts: counts}
	}
}

// askAssign is step 3: confirm, or back to the form if someone is full.
func (p *tokensPage) askAssign(msg assignCountsMsg) tea.Cmd {
	if p.mode != tokDialog {
		return nil
	}
	if msg.err != nil {
		return p.fail(msg.err)
	}
	var full []string
	for i, n := range msg.counts {
		if n >= models.MaxTokensActive {
			full = append(full, clean(p.picked[i].Name))
		}
	}
	if len(full) > 0 {
		return p.openAssignForm(fmt.Sprintf("%s already %s %d usable tokens, the most allowed; esc goes back to the picker to unselect %s.",
			joinShort(full, 3), plural(len(full), "holds", "hold"), models.MaxTokensActive, plural(len(full), "them", "them")))
	}
	names := make([]string, len(p.picked))
	for i, u := range p.picked {
		names[i] = clean(u.Name)
	}
	exp := "never expires"
	if p.assignExp != "never" {
		exp = "expires in " + p.assignExp
	}
	name, expiry := p.assignName, p.assignExp
	p.openConfirm(newConfirm(fmt.Sprintf("Assign %s (%s) to %d %s?", quote(name), exp, len(names), plural(len(names), "person", "people")),
		[]string{joinShort(names, 6) + ".",
			"Each gets their own token, awaiting reveal; you will not see the secrets. All are assigned together or none are."},
		func() tea.Cmd { return p.assign(name, expiry) }), p.w, func() tea.Cmd { return p.openAssignForm("") })
	return nil
}

func (p *tokensPage) assign(name, expiry string) tea.Cmd {
	be, a := p.env.be, p.env.actor
	refs := make([]string, len(p.picked))
	for i, u := range p.picked {
		refs[i] = u.ID
	}
	return func() tea.Msg {
		exp, err := models.ParseExpiry(expiry)
		if err != nil {
			return tokensDoneMsg{err: err}
		}
		toks, err := be.AssignTokens(a, refs, store.TokenSpec{Name: name, Expires: exp})
		if err != nil {
			return tokensDoneMsg{err: err}
		}
		return tokensDoneMsg{note: fmt.Sprintf("Assigned %d %s; each holder reveals theirs once on My Profile", len(toks), plural(len(toks), "token", "tokens"))}
	}
}

func (p *tokensPage) revoke(t store.TokenView) tea.Cmd {
	be, a := p.env.be, p.env.actor
	return func() tea.Msg {
		_, err := be.RevokeToken(a, t.ID)
		return tokensDoneMsg{note: "Revoked " + quote(t.Name) + " of " + clean(t.HolderName), err: err}
	}
}

func (p *tokensPage) revokeAll(t store.TokenView) tea.Cmd {
	be, a := p.env.be, p.env.actor
	return func() tea.Msg {
		n, err := be.RevokeAllOf(a, t.HolderID)
		return tokensDoneMsg{note: fmt.Sprintf("Revoked %d %s of %s", n, plural(n, "token", "tokens"), clean(t.HolderName)), err: err}
	}
}

func (p *tokensPage) View() string {
	st := p.env.st
	if p.mode == tokPicker {
		return "\n" + indent(p.picker.view(), 2)
	}
	if p.mode == tokDialog {
		return "\n" + p.dialogView(st, p.w)
	}
	lines := p.top()
	switch {
	case p.err != "":
		lines = append(lines, "  "+st.Error.Render(clip(p.err, p.w-4)))
	case !p.loaded:
		lines = append(lines, "  "+st.Subtle.Render("Loading…"))
	case len(p.rows) == 0 && p.filter.applied != "":
		lines = append(lines, "  "+st.Empty.Render(clip("No token matches "+quote(p.filter.applied)+" — esc clears the filter.", p.w-4)))
	case len(p.rows) == 0:
		lines = append(lines, "  "+st.Empty.Render("No tokens in the organization yet — press a to assign one to a user."))
	default:
		lines = append(append(lines, p.table()), p.bottom()...)
	}
	return strings.Join(lines, "\n")
}

// orderText says the order in words.
func (p *tokensPage) orderText() string {
	if p.sortCol == 0 {
		if p.oldest {
			return "oldest first"
		}
		return "newest first"
	}
	sc := tokenSortCols[p.sortCol]
	if sc.key == "expires" {
		// Dates run soonest to latest, not A to Z; "never" comes last.
		if p.desc {
			return "by expiry, latest first"
		}
		return "by expiry, soonest first"
	}
	dir := "A→Z"
	if p.desc {
		dir = "Z→A"
	}
	return "by " + sc.label + " " + dir
}

// arrow marks the sorted column's header with its direction.
func (p *tokensPage) arrow(column string) string {
	sc := tokenSortCols[p.sortCol]
	if sc.column != column {
		return column
	}
	up := p.oldest
	if p.sortCol != 0 {
		up = !p.desc
	}
	if up {
		return column + " ↑"
	}
	return column + " ↓"
}

func (p *tokensPage) table() string {
	st := p.env.st
	wide := p.w >= 110
	mins, weights := []int{14, 16, 17, 10, 10}, []int{3, 2, 0, 0, 0}
	titles := []string{p.arrow("NAME"), p.arrow("HOLDER"), p.arrow("STATUS"), p.arrow("CREATED"), p.arrow("EXPIRES")}
	if wide {
		mins, weights, titles = append(mins, 10), append(weights, 1), append(titles, "LAST USED")
	}
	cols := layoutColumns(p.w-3, mins, weights, titles)
	return renderTable(st, cols, func(i int) []cell {
		t := p.rows[i]
		row := []cell{
			{text: clean(t.Name)},
			{text: clean(t.HolderName)},
			{text: statusLabel(t.Status), style: statusStyle(st, t.Status)},
			{text: day(t.CreatedAt)},
			{text: expiresText(t, p.now)},
		}
		if wide {
			row = append(row, cell{text: ago(t.LastUsedAt, p.now)})
		}
		return row
	}, p.sc)
}

func (p *tokensPage) detail() string {
	st := p.env.st
	t, ok := p.selected()
	if !ok {
		return ""
	}
	by := "by " + clean(t.CreatorName)
	if t.Assigned {
		by = "assigned by " + clean(t.CreatorName)
	}
	s := clean(t.Masked) + " · " + clean(t.HolderEmail) + " · " + by + " on " + day(t.CreatedAt)
	switch t.Status {
	case models.StatusRevoked:
		s += " · " + revokedText(t, p.env.actor.UserID)
	case models.StatusRotated:
		s += " · rotated on " + day(t.RotatedAt)
		if p.now.Before(t.GraceUntil) {
			s += ", old secret works until " + clock(t.GraceUntil)
		}
	default:
		s += " · last used " + ago(t.LastUsedAt, p.now)
	}
	return "  " + st.Subtle.Render(clip(s, max(p.w-4, 0)))
}

func (p *tokensPage) pager() string {
	st := p.env.st
	lo, hi := p.sc.window()
	s := fmt.Sprintf("page %d · rows %d–%d", p.pageNo+1, p.pageNo*p.sc.height+lo+1, p.pageNo*p.sc.height+hi)
	if p.pageNo > 0 {
		s = "← " + s
	}
	if p.next != "" {
		s += " · more →"
	}
	return "  " + st.Subtle.Render(s)
}

func (p *tokensPage) ShortHelp() []key.Binding {
	switch p.mode {
	case tokPicker:
		return p.picker.helpKeys()
	case tokDialog:
		return p.dialogHelp()
	case tokFilter:
		return []key.Binding{p.keys.Apply, p.keys.Clear}
	}
	// Revoking comes before / and s, which the line under the title already
	// names: at 80 columns the bar keeps three or four keys, and x was cut.
	var ks []key.Binding
	for _, k := range []key.Binding{p.keys.Assign, p.keys.Revoke, p.keys.RevokeAll, p.keys.Filter, p.keys.Sort} {
		if sameKey(k, p.keys.Filter) || sameKey(k, p.keys.Sort) || p.can(k) {
			ks = append(ks, k)
		}
	}
	return ks
}

func (p *tokensPage) FullHelp() [][]key.Binding {
	if p.Capturing() {
		return [][]key.Binding{p.ShortHelp()}
	}
	nav := []key.Binding{p.list.Up, p.list.Down}
	if p.pageNo > 0 || p.next != "" {
		nav = append(nav, p.list.PageUp, p.list.PageDown)
	}
	list := []key.Binding{p.keys.Filter, p.keys.Sort, p.keys.SortCol}
	if p.filter.applied != "" {
		list = append(list, p.keys.Clear)
	}
	var acts []key.Binding
	for _, k := range []key.Binding{p.keys.Assign, p.keys.Revoke, p.keys.RevokeAll, p.keys.Rename} {
		if p.can(k) {
			acts = append(acts, k)
		}
	}
	return [][]key.Binding{nav, list, acts}
}

// Click selects the row at y.
func (p *tokensPage) Click(y int) tea.Cmd {
	if p.mode != tokList {
		return nil
	}
	p.sc.click(y, lineCount(p.top()))
	return nil
}
