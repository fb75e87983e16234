package tui

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

type auditKeys struct {
	Type, TypeBack, User, Clear, Apply, Cancel, Open, Close key.Binding
}

func newAuditKeys() auditKeys {
	return auditKeys{
		Type:     key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "type filter")),
		TypeBack: key.NewBinding(key.WithKeys("T"), key.WithHelp("T", "previous type")),
		User:     key.NewBinding(key.WithKeys("u", "/"), key.WithHelp("u", "person filter")),
		Clear:    key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "clear filters")),
		Apply:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "keep filter")),
		Cancel:   key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
		Open:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "details")),
		Close:    key.NewBinding(key.WithKeys("esc", "enter", "q"), key.WithHelp("esc", "back to the list")),
	}
}

// auditMode is what the Audit Log is doing.
type auditMode int

const (
	audList   auditMode = iota
	audUser             // typing the person filter
	audDetail           // one entry, whole, in a viewport
)

// auditPage is the audit log, newest first, one screenful per store call.
type auditPage struct {
	env  *env
	keys auditKeys
	list listKeys
	w, h int

	seq     int
	loaded  bool
	err     string
	entries []models.AuditEntry
	more    bool
	sc      scroller

	typeIdx int       // 0: all types, else models.AuditTypes[typeIdx-1]
	user    liveInput // "u": applied as you type, debounced
	befores []uint64  // Before of each page visited; befores[pageNo] is this page's
	pageNo  int

	mode   auditMode
	detail viewport.Model
}

func newAuditPage(e *env) *auditPage {
	ti := newInput(e.st, "person: ", "ada or ada@example.com", models.MaxEmailLen)
	vp := viewport.New(0, 0)
	return &auditPage{env: e, keys: newAuditKeys(), list: newListKeys(), user: liveInput{input: ti}, befores: []uint64{0}, detail: vp}
}

type auditLoadedMsg struct {
	seq     int
	entries []models.AuditEntry
	limit   int
	err     error
}

type auditFilterMsg struct{ gen int }

func (p *auditPage) Title() string { return "Audit Log" }

func (p *auditPage) Init() tea.Cmd { return p.Reload() }

// Concerns: every change writes an audit entry.
func (p *auditPage) Concerns(ev store.Event) bool { return auditConcerned(ev) }

// auditConcerned is Concerns without a page (see lazyPage): every change is
// in the log.
func auditConcerned(store.Event) bool { return true }

func (p *auditPage) tableHeight() int { return tableRows(p.h, p.top(), p.bottom()) }

// top is what the list draws above the table.
func (p *auditPage) top() []string {
	st := p.env.st
	typ := "all types"
	if t := p.typeFilter(); t != "" {
		typ = t
	}
	user := "everyone"
	if p.user.applied != "" {
		user = clip(clean(p.user.applied), 30)
	}
	head := "  " + st.Section.Render("Audit Log") + st.Subtle.Render(" · newest first · enter shows an entry whole")
	filterLine := "  " + st.Subtle.Render("type: ") + st.Bold.Render(typ) + st.Subtle.Render(" (t)  person: ") + st.Bold.Render(user) + st.Subtle.Render(" (u)")
	if p.mode == audUser {
		filterLine = "  " + p.user.input.View()
	}
	return []string{"", head, filterLine, ""}
}

// bottom is what the list draws below the table.
func (p *auditPage) bottom() []string { return []string{"", p.detailLine(), p.pager()} }

func (p *auditPage) typeFilter() string {
	if p.typeIdx == 0 {
		return ""
	}
	return models.AuditTypes[p.typeIdx-1]
}

func (p *auditPage) Reload() tea.Cmd {
	p.seq++
	seq, be, a := p.seq, p.env.be, p.env.actor
	limit := p.tableHeight()
	q := store.AuditQuery{Limit: limit, User: p.user.applied, Type: p.typeFilter(), Before: p.befores[p.pageNo]}
	return func() tea.Msg {
		es, err := be.Audit(a, q)
		return auditLoadedMsg{seq: seq, entries: es, limit: limit, err: err}
	}
}

func (p *auditPage) restart() tea.Cmd {
	p.befores, p.pageNo = []uint64{0}, 0
	p.sc.reset()
	return p.Reload()
}

func (p *auditPage) SetSize(w, h int) bool {
	old := p.tableHeight()
	p.w, p.h = w, h
	p.sc.setHeight(p.tableHeight())
	p.user.input.Width = max(w-14, 10)
	p.detail.Width, p.detail.Height = max(w-4, 10), max(h-3, 1)
	return p.tableHeight() != old
}

func (p *auditPage) Capturing() bool { return p.mode != audList }

func (p *auditPage) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case auditLoadedMsg:
		if msg.seq != p.seq {
			return p, nil
		}
		if msg.err != nil {
			p.err = errText(msg.err)
			return p, nil
		}
		p.loaded, p.err, p.entries = true, "", msg.entries
		p.more = len(msg.entries) == msg.limit
		p.sc.setLen(len(p.entries))
		return p, nil
	case auditFilterMsg:
		if p.user.debounceDue(msg.gen) {
			return p, p.restart()
		}
		return p, nil
	case tea.KeyMsg:
		return p, p.handleKey(msg)
	}
	return p, nil
}

func (p *auditPage) handleKey(msg tea.KeyMsg) tea.Cmd {
	switch p.mode {
	case audUser:
		restart, done, cmd := p.user.handle(p.env, msg, p.keys.Apply, p.keys.Cancel, func(gen int) tea.Msg { return auditFilterMsg{gen: gen} })
		if done {
			p.mode = audList
		}
		if restart {
			return p.restart()
		}
		return cmd
	case audDetail:
		if key.Matches(msg, p.keys.Close) {
			p.mode = audList
			return nil
		}
		var cmd tea.Cmd
		p.detail, cmd = p.detail.Update(msg)
		return cmd
	}
	if p.list.handleListKey(msg, &p.sc) {
		return nil
	}
	n := len(models.AuditTypes) + 1
	switch {
	case key.Matches(msg, p.keys.Open):
		if p.sc.cursor < len(p.entries) {
			p.mode = audDetail
			p.detail.SetContent(p.entryText(p.entries[p.sc.cursor]))
			p.detail.GotoTop()
		}
	case key.Matches(msg, p.keys.Type):
		p.typeIdx = (p.typeIdx + 1) % n
		return p.restart()
	case key.Matches(msg, p.keys.TypeBack):
		p.typeIdx = (p.typeIdx + n - 1) % n
		return p.restart()
	case key.Matches(msg, p.keys.User):
		p.mode = audUser
		return p.user.edit()
	case key.Matches(msg, p.keys.Clear):
		if p.typeIdx != 0 || p.user.applied != "" {
			p.typeIdx = 0
			p.user.reset()
			return p.restart()
		}
	case key.Matches(msg, p.list.PageDown):
		if p.more && len(p.entries) > 0 {
			p.befores = append(p.befores[:p.pageNo+1], p.entries[len(p.entries)-1].Seq)
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
	}
	return nil
}

// entryText is one entry, every field on its own line, wrapped to the
// viewport: nothing is cut.
func (p *auditPage) entryText(e models.AuditEntry) string {
	st := p.env.st
	w := max(p.detail.Width-14, 10)
	row := func(label, v string) string {
		if v == "" {
			v = "—"
		}
		return st.Subtle.Render(fmt.Sprintf("%-12s", label)) + " " + st.Row.Width(w).Render(v)
	}
	lines := []string{
		row("Entry", "#"+strconv.FormatUint(e.Seq, 10)),
		row("When", e.At.Local().Format("2006-01-02 15:04:05 MST")),
		row("Type", clean(e.Type)),
		row("Actor", clean(e.ActorEmail)),
		row("Target", clean(e.TargetEmail)),
		row("Token", clean(e.TokenID)),
		row("Via", clean(e.Via)),
		row("Detail", clean(e.Detail)),
	}
	return strings.Join(lines, "\n")
}

func (p *auditPage) View() string {
	st := p.env.st
	if p.mode == audDetail {
		head := "  " + st.Section.Render("Audit entry") + st.Subtle.Render(" · esc goes back · ↑/↓ scroll")
		return strings.Join([]string{"", head, "", indent(p.detail.View(), 2)}, "\n")
	}
	lines := p.top()
	switch {
	case p.err != "":
		lines = append(lines, "  "+st.Error.Render(clip(p.err, p.w-4)))
	case !p.loaded:
		lines = append(lines, "  "+st.Subtle.Render("Loading…"))
	case len(p.entries) == 0 && (p.typeIdx != 0 || p.user.applied != ""):
		lines = append(lines, "  "+st.Empty.Render("No entries match — press c to clear the filters."))
	case len(p.entries) == 0:
		lines = append(lines, "  "+st.Empty.Render("Nothing has happened yet — changes made anywhere appear here."))
	default:
		lines = append(append(lines, p.table()), p.bottom()...)
	}
	return strings.Join(lines, "\n")
}

func (p *auditPage) table() string {
	st := p.env.st
	whenFmt, whenW := "01-02 15:04", 11
	if p.w >= 110 {
		whenFmt, whenW = "2006-01-02 15:04", 16
	}
	cols := layoutColumns(p.w-3, []int{whenW, 18, 16, 20}, []int{0, 1, 2, 5},
		[]string{"WHEN ↓", "TYPE", "ACTOR", "WHAT"})
	return renderTable(st, cols, func(i int) []cell {
		e := p.entries[i]
		actor := e.ActorEmail
		if actor == "" {
			actor = "—"
		}
		return []cell{
			{text: e.At.Local().Format(whenFmt)},
			{text: clean(e.Type)},
			{text: clean(actor)},
			{text: p.what(e)},
		}
	}, p.sc)
}

// what summarises an entry's target and detail in one cell.
func (p *auditPage) what(e models.AuditEntry) string {
	var parts []string
	if e.TargetEmail != "" && e.TargetEmail != e.ActorEmail {
		parts = append(parts, "→ "+clean(e.TargetEmail))
	}
	if e.Detail != "" {
		parts = append(parts, clean(e.Detail))
	}
	return strings.Join(parts, " · ")
}

func (p *auditPage) detailLine() string {
	st := p.env.st
	if p.sc.cursor >= len(p.entries) {
		return ""
	}
	e := p.entries[p.sc.cursor]
	s := "#" + strconv.FormatUint(e.Seq, 10) + " " + e.At.Local().Format("2006-01-02 15:04:05") + " via " + clean(e.Via)
	if e.TokenID != "" {
		s += " · " + clean(e.TokenID)
	}
	if w := p.what(e); w != "" {
		s += " · " + w
	}
	return "  " + st.Subtle.Render(clip(s, max(p.w-4, 0)))
}

func (p *auditPage) pager() string {
	s := "page " + strconv.Itoa(p.pageNo+1)
	if p.pageNo > 0 {
		s = "← " + s
	}
	if p.more {
		s += " · older →"
	}
	return "  " + p.env.st.Subtle.Render(s)
}

func (p *auditPage) ShortHelp() []key.Binding {
	switch p.mode {
	case audUser:
		return []key.Binding{p.keys.Apply, p.keys.Cancel}
	case audDetail:
		return []key.Binding{p.keys.Close}
	}
	ks := []key.Binding{p.keys.Open, p.keys.Type, p.keys.User}
	if p.typeIdx != 0 || p.user.applied != "" {
		ks = append(ks, p.keys.Clear)
	}
	if p.more {
		ks = append(ks, p.list.PageDown)
	}
	return ks
}

func (p *auditPage) FullHelp() [][]key.Binding {
	if p.Capturing() {
		return [][]key.Binding{p.ShortHelp()}
	}
	nav := []key.Binding{p.list.Up, p.list.Down}
	if p.pageNo > 0 || p.more {
		nav = append(nav, p.list.PageUp, p.list.PageDown)
	}
	f := []key.Binding{p.keys.Open, p.keys.Type, p.keys.TypeBack, p.keys.User}
	if p.typeIdx != 0 || p.user.applied != "" {
		f = append(f, p.keys.Clear)
	}
	return [][]key.Binding{nav, f}
}

// Click selects the row at y.
func (p *auditPage) Click(y int) tea.Cmd {
	if p.mode != audList {
		return nil
	}
	p.sc.click(y, lineCount(p.top()))
	return nil
}
