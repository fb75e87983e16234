package tui

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

type tokensKeys struct {
	Filter, Sort, SortCol, Assign, Revoke, RevokeAll, Clear, Apply key.Binding
}

func newTokensKeys() tokensKeys {
	return tokensKeys{
		Filter:    key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Sort:      key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "newest/oldest")),
		SortCol:   key.NewBinding(key.WithKeys("o"), key.WithHelp("o", "sort page by column")),
		Assign:    key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "assign token to user")),
		Revoke:    key.NewBinding(key.WithKeys("x", "delete"), key.WithHelp("x", "revoke")),
		RevokeAll: key.NewBinding(key.WithKeys("X"), key.WithHelp("X", "revoke all of holder")),
		Clear:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
		Apply:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "apply filter")),
	}
}

// Column sorts apply within the loaded page; across pages the order is the
// store's (creation time), which is what paging a million tokens can afford.
var tokenSortCols = []string{"", "name", "holder", "status", "expiry"}

// tokensPage is Settings › API Tokens: every token of the organization, one
// screenful at a time. Only the owner sees the tab; the store refuses the
// listing to anyone else regardless.
type tokensPage struct {
	env  *env
	keys tokensKeys
	list listKeys
	w, h int

	seq     int
	loaded  bool
	err     string
	rows    []store.TokenView
	now     time.Time
	next    string   // cursor of the following page, "" on the last
	cursors []string // After value of each page visited; cursors[pageNo] is this page's
	pageNo  int
	oldest  bool
	sortCol int

	filter appliedInput // "/": applied on enter, since it scans the store

	cursor, offset int

	picker *picker
	picked []models.User
	dialogs
}

func newTokensPage(e *env) *tokensPage {
	ti := newInput()
	ti.Prompt = "/"
	ti.Placeholder = "name, holder, email, status, id…"
	ti.CharLimit = 128
	return &tokensPage{env: e, keys: newTokensKeys(), list: newListKeys(), filter: appliedInput{input: ti}, cursors: []string{""}}
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

type assignAskMsg struct{ vals []string }

type tokensDoneMsg struct {
	note string
	err  error
}

type revokeAllAskMsg struct {
	holder store.TokenView
	n      int
	err    error
}

func (p *tokensPage) Title() string { return "API Tokens" }

func (p *tokensPage) Init() tea.Cmd { return p.Reload() }

// pageSize fits the table to the screen; the store reads only that many.
func (p *tokensPage) pageSize() int { return clamp(p.tableHeight(), 5, 500) }

func (p *tokensPage) tableHeight() int { return p.h - 7 }

func (p *tokensPage) Reload() tea.Cmd {
	p.seq++
	seq, be, a := p.seq, p.env.be, p.env.actor
	q := store.TokenQuery{All: true, Filter: p.filter.applied, Oldest: p.oldest, After: p.cursors[p.pageNo], Limit: p.pageSize()}
	return func() tea.Msg {
		pg, err := be.ListTokens(a, q)
		return tokensLoadedMsg{seq: seq, page: pg, now: be.Now(), err: err}
	}
}

// restart goes back to the first page, e.g. after the filter or order changed.
func (p *tokensPage) restart() tea.Cmd {
	p.cursors, p.pageNo, p.cursor = []string{""}, 0, 0
	return p.Reload()
}

func (p *tokensPage) SetSize(w, h int) {
	p.w, p.h = w, h
	if p.picker != nil {
		p.picker.w, p.picker.h = w-4, h-2
	}
}

func (p *tokensPage) Capturing() bool {
	return p.filter.editing || p.picker != nil || p.dialogOpen()
}

func (p *tokensPage) selected() (store.TokenView, bool) {
	if p.cursor < 0 || p.cursor >= len(p.rows) {
		return store.TokenView{}, false
	}
	return p.rows[p.cursor], true
}

func (p *tokensPage) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tokensLoadedMsg:
		if msg.seq != p.seq {
			return p, nil
		}
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
		p.sortRows()
		p.cursor = clamp(p.cursor, 0, max(len(p.rows)-1, 0))
		for i, t := range p.rows {
			if t.ID == sel.ID {
				p.cursor = i
			}
		}
		return p, nil

	case assigneesMsg:
		if p.picker == nil {
			return p, nil
		}
		if msg.err != nil {
			p.picker = nil
			return p, flashErr(msg.err)
		}
		p.picker.setUsers(msg.users)
		return p, nil

	case assignAskMsg:
		p.form = nil
		names := make([]string, len(p.picked))
		for i, u := range p.picked {
			names[i] = clean(u.Name)
		}
		exp := "never expires"
		if msg.vals[1] != "never" {
			exp = "expires in " + msg.vals[1]
		}
		vals := msg.vals
		p.confirm = newConfirm(fmt.Sprintf("Assign %s (%s) to %d %s?", quote(vals[0]), exp, len(names), plural(len(names), "person", "people")),
			[]string{joinShort(names, 6) + ".",
				"Each gets their own token, awaiting reveal; you will not see the secrets. All are assigned together or none are."},
			func() tea.Cmd { return p.assign(vals) })
		return p, nil

	case revokeAllAskMsg:
		if msg.err != nil {
			return p, flashErr(msg.err)
		}
		h := msg.holder
		p.confirm = newTypedConfirm("Revoke all tokens of "+clean(h.HolderName)+"?",
			[]string{fmt.Sprintf("%d usable %s of %s will be revoked at once, with every access token made from them. This cannot be undone.",
				msg.n, plural(msg.n, "token", "tokens"), clean(h.HolderEmail))},
			clean(h.HolderEmail), func() tea.Cmd { return p.revokeAll(h) })
		return p, nil

	case tokensDoneMsg:
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

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (p *tokensPage) handleKey(msg tea.KeyMsg) tea.Cmd {
	switch {
	case p.picker != nil:
		done, picked, cmd := p.picker.update(msg)
		if done {
			p.picker = nil
			if picked != nil {
				p.picked = picked
				p.form = newForm(fmt.Sprintf("New token for %d %s", len(picked), plural(len(picked), "person", "people")),
					func(vals []string) tea.Cmd { return func() tea.Msg { return assignAskMsg{vals: vals} } },
					textField("Name", "the same name for everyone, e.g. \"reporting\"", "reporting", models.MaxNameLen),
					expiryField())
			}
		}
		return cmd
	case p.dialogOpen():
		return p.updateDialog(msg)
	case p.filter.editing:
		entered, cmd := p.filter.key(msg, p.keys.Apply, p.keys.Clear)
		if entered {
			return p.restart()
		}
		return cmd
	}
	if c, ok := p.list.moveCursor(msg, p.cursor, len(p.rows), p.tableHeight()); ok {
		p.cursor = c
		return nil
	}
	switch {
	case key.Matches(msg, p.list.PageDown):
		if p.next != "" {
			p.cursors = append(p.cursors[:p.pageNo+1], p.next)
			p.pageNo++
			p.cursor = 0
			return p.Reload()
		}
	case key.Matches(msg, p.list.PageUp):
		if p.pageNo > 0 {
			p.pageNo--
			p.cursor = 0
			return p.Reload()
		}
	case key.Matches(msg, p.keys.Filter):
		return p.filter.edit()
	case key.Matches(msg, p.keys.Clear):
		if p.filter.applied != "" {
			p.filter.reset()
			return p.restart()
		}
	case key.Matches(msg, p.keys.Sort):
		p.oldest = !p.oldest
		return p.restart()
	case key.Matches(msg, p.keys.SortCol):
		p.sortCol = (p.sortCol + 1) % len(tokenSortCols)
		p.sortRows()
	case key.Matches(msg, p.keys.Assign):
		p.picker = newPicker(p.env.st)
		p.picker.w, p.picker.h = p.w-4, p.h-2
		be, a := p.env.be, p.env.actor
		return tea.Batch(func() tea.Msg {
			us, err := be.Assignees(a)
			return assigneesMsg{users: us, err: err}
		})
	case key.Matches(msg, p.keys.Revoke):
		if t, ok := p.selected(); ok {
			p.confirm = newConfirm("Revoke "+clean(t.HolderName)+"'s token "+quote(t.Name)+"?",
				[]string{"Anything using " + t.Masked + " stops working at once, including access tokens made from it. This cannot be undone."},
				func() tea.Cmd { return p.revoke(t) })
		}
	case key.Matches(msg, p.keys.RevokeAll):
		if t, ok := p.selected(); ok {
			be, a := p.env.be, p.env.actor
			return func() tea.Msg {
				n, err := be.LiveTokenCount(a, t.HolderID)
				return revokeAllAskMsg{holder: t, n: n, err: err}
			}
		}
	}
	return nil
}

func (p *tokensPage) sortRows() {
	var less func(a, b store.TokenView) bool
	switch tokenSortCols[p.sortCol] {
	case "name":
		less = func(a, b store.TokenView) bool { return strings.ToLower(a.Name) < strings.ToLower(b.Name) }
	case "holder":
		less = func(a, b store.TokenView) bool { return strings.ToLower(a.HolderName) < strings.ToLower(b.HolderName) }
	case "status":
		less = func(a, b store.TokenView) bool { return a.Status < b.Status }
	case "expiry":
		less = func(a, b store.TokenView) bool {
			if a.ExpiresAt.IsZero() != b.ExpiresAt.IsZero() {
				return b.ExpiresAt.IsZero()
			}
			return a.ExpiresAt.Before(b.ExpiresAt)
		}
	default:
		less = func(a, b store.TokenView) bool {
			if p.oldest {
				return a.ID < b.ID
			}
			return a.ID > b.ID
		}
	}
	sort.SliceStable(p.rows, func(i, j int) bool { return less(p.rows[i], p.rows[j]) })
}

func (p *tokensPage) assign(vals []string) tea.Cmd {
	be, a := p.env.be, p.env.actor
	refs := make([]string, len(p.picked))
	for i, u := range p.picked {
		refs[i] = u.ID
	}
	return func() tea.Msg {
		exp, err := models.ParseExpiry(vals[1])
		if err != nil {
			return tokensDoneMsg{err: err}
		}
		toks, err := be.AssignTokens(a, refs, store.TokenSpec{Name: vals[0], Expires: exp})
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
	if p.picker != nil {
		return "\n" + indent(p.picker.view(), 2)
	}
	order := "newest first"
	if p.oldest {
		order = "oldest first"
	}
	if c := tokenSortCols[p.sortCol]; c != "" {
		order += ", this page by " + c
	}
	head := "  " + st.Section.Render("API Tokens") + st.Subtle.Render(fit(" · the whole organization · "+order, max(p.w-14, 0)))
	var filterLine string
	switch {
	case p.filter.editing:
		filterLine = "  " + p.filter.input.View()
	case p.filter.applied != "":
		filterLine = "  " + st.Subtle.Render("filter: ") + st.Bold.Render(clean(p.filter.applied)) + st.Subtle.Render("  (esc clears)")
	default:
		filterLine = "  " + st.Subtle.Render("/ filter · s order · a assign")
	}
	lines := []string{"", head, filterLine, ""}
	switch {
	case p.dialogOpen():
		lines = append(lines, p.dialogView(st, p.w))
	case p.err != "":
		lines = append(lines, "  "+st.Error.Render(p.err))
	case !p.loaded:
		lines = append(lines, "  "+st.Subtle.Render("Loading…"))
	case len(p.rows) == 0 && p.filter.applied != "":
		lines = append(lines, "  "+st.Empty.Render("No token matches "+quote(p.filter.applied)+" — esc clears the filter."))
	case len(p.rows) == 0:
		lines = append(lines, "  "+st.Empty.Render("No tokens in the organization yet — press a to assign one to a user."))
	default:
		lines = append(lines, p.table(), "", p.detail(), p.pager())
	}
	return strings.Join(lines, "\n")
}

func (p *tokensPage) table() string {
	st := p.env.st
	cols := layoutColumns(p.w-3, []int{14, 16, 17, 10, 10}, []int{3, 2, 0, 0, 0},
		[]string{"NAME", "HOLDER", "STATUS", "CREATED", "EXPIRES"})
	rows := make([][]cell, len(p.rows))
	for i, t := range p.rows {
		rows[i] = []cell{
			{text: clean(t.Name)},
			{text: clean(t.HolderName)},
			{text: statusLabel(t.Status), style: statusStyle(st, t.Status)},
			{text: day(t.CreatedAt)},
			{text: until(t.ExpiresAt, p.now)},
		}
	}
	h := max(p.tableHeight(), 1)
	p.offset = scrollOffset(p.cursor, p.offset, h, len(rows))
	return renderTable(st, cols, rows, p.cursor, p.offset, h)
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
	s := clean(t.Masked) + " · " + clean(t.HolderEmail) + " · " + by + " on " + day(t.CreatedAt) + " · last used " + ago(t.LastUsedAt, p.now)
	return "  " + st.Subtle.Render(fit(s, max(p.w-4, 0)))
}

func (p *tokensPage) pager() string {
	st := p.env.st
	s := fmt.Sprintf("page %d", p.pageNo+1)
	if p.pageNo > 0 {
		s = "← " + s
	}
	if p.next != "" {
		s += " →"
	}
	return "  " + st.Subtle.Render(s)
}

func (p *tokensPage) ShortHelp() []key.Binding {
	switch {
	case p.picker != nil:
		return p.picker.helpKeys()
	case p.dialogOpen():
		return p.dialogHelp()
	case p.filter.editing:
		return []key.Binding{p.keys.Apply, p.keys.Clear}
	}
	ks := []key.Binding{p.keys.Assign, p.keys.Filter, p.keys.Sort}
	if len(p.rows) > 0 {
		ks = append(ks, p.keys.Revoke, p.keys.RevokeAll)
	}
	return ks
}

func (p *tokensPage) FullHelp() [][]key.Binding {
	if p.Capturing() {
		return [][]key.Binding{p.ShortHelp()}
	}
	return [][]key.Binding{
		{p.list.Up, p.list.Down, p.list.PageUp, p.list.PageDown},
		{p.keys.Filter, p.keys.Clear, p.keys.Sort, p.keys.SortCol},
		{p.keys.Assign, p.keys.Revoke, p.keys.RevokeAll},
	}
}
