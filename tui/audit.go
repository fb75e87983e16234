package tui

import (
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

type auditKeys struct {
	Type, TypeBack, User, Clear, Apply, Cancel key.Binding
}

func newAuditKeys() auditKeys {
	return auditKeys{
		Type:     key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "filter by type")),
		TypeBack: key.NewBinding(key.WithKeys("T"), key.WithHelp("T", "previous type")),
		User:     key.NewBinding(key.WithKeys("u", "/"), key.WithHelp("u", "filter by user")),
		Clear:    key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "clear filters")),
		Apply:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "apply")),
		Cancel:   key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
	}
}

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

	typeIdx int          // 0: all types, else models.AuditTypes[typeIdx-1]
	user    appliedInput // "u": applied on enter
	befores []uint64     // Before of each page visited; befores[pageNo] is this page's
	pageNo  int

	cursor, offset int
}

func newAuditPage(e *env) *auditPage {
	ti := newInput()
	ti.Prompt = "user: "
	ti.Placeholder = "email or usr_ id"
	ti.CharLimit = models.MaxEmailLen
	return &auditPage{env: e, keys: newAuditKeys(), list: newListKeys(), user: appliedInput{input: ti}, befores: []uint64{0}}
}

type auditLoadedMsg struct {
	seq     int
	entries []models.AuditEntry
	limit   int
	err     error
}

func (p *auditPage) Title() string { return "Audit Log" }

func (p *auditPage) Init() tea.Cmd { return p.Reload() }

func (p *auditPage) tableHeight() int { return max(p.h-7, 1) }

func (p *auditPage) typeFilter() string {
	if p.typeIdx == 0 {
		return ""
	}
	return models.AuditTypes[p.typeIdx-1]
}

func (p *auditPage) Reload() tea.Cmd {
	p.seq++
	seq, be, a := p.seq, p.env.be, p.env.actor
	limit := clamp(p.tableHeight(), 5, 500)
	q := store.AuditQuery{Limit: limit, User: p.user.applied, Type: p.typeFilter(), Before: p.befores[p.pageNo]}
	return func() tea.Msg {
		es, err := be.Audit(a, q)
		return auditLoadedMsg{seq: seq, entries: es, limit: limit, err: err}
	}
}

func (p *auditPage) restart() tea.Cmd {
	p.befores, p.pageNo, p.cursor = []uint64{0}, 0, 0
	return p.Reload()
}

func (p *auditPage) SetSize(w, h int) { p.w, p.h = w, h }

func (p *auditPage) Capturing() bool { return p.user.editing }

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
		p.cursor = clamp(p.cursor, 0, max(len(p.entries)-1, 0))
		return p, nil
	case tea.KeyMsg:
		return p, p.handleKey(msg)
	}
	return p, nil
}

func (p *auditPage) handleKey(msg tea.KeyMsg) tea.Cmd {
	if p.user.editing {
		entered, cmd := p.user.key(msg, p.keys.Apply, p.keys.Cancel)
		if entered {
			return p.restart()
		}
		return cmd
	}
	if c, ok := p.list.moveCursor(msg, p.cursor, len(p.entries), p.tableHeight()); ok {
		p.cursor = c
		return nil
	}
	n := len(models.AuditTypes) + 1
	switch {
	case key.Matches(msg, p.keys.Type):
		p.typeIdx = (p.typeIdx + 1) % n
		return p.restart()
	case key.Matches(msg, p.keys.TypeBack):
		p.typeIdx = (p.typeIdx + n - 1) % n
		return p.restart()
	case key.Matches(msg, p.keys.User):
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
			p.cursor = 0
			return p.Reload()
		}
	case key.Matches(msg, p.list.PageUp):
		if p.pageNo > 0 {
			p.pageNo--
			p.cursor = 0
			return p.Reload()
		}
	}
	return nil
}

func (p *auditPage) View() string {
	st := p.env.st
	typ := "all types"
	if t := p.typeFilter(); t != "" {
		typ = t
	}
	user := "everyone"
	if p.user.applied != "" {
		user = clean(p.user.applied)
	}
	head := "  " + st.Section.Render("Audit Log") + st.Subtle.Render(" · newest first")
	filterLine := "  " + st.Subtle.Render("type: ") + st.Bold.Render(typ) + st.Subtle.Render(" (t)  user: ") + st.Bold.Render(user) + st.Subtle.Render(" (u)")
	if p.user.editing {
		filterLine = "  " + p.user.input.View()
	}
	lines := []string{"", head, filterLine, ""}
	switch {
	case p.err != "":
		lines = append(lines, "  "+st.Error.Render(p.err))
	case !p.loaded:
		lines = append(lines, "  "+st.Subtle.Render("Loading…"))
	case len(p.entries) == 0 && (p.typeIdx != 0 || p.user.applied != ""):
		lines = append(lines, "  "+st.Empty.Render("No entries match — press c to clear the filters."))
	case len(p.entries) == 0:
		lines = append(lines, "  "+st.Empty.Render("Nothing has happened yet — changes made anywhere appear here."))
	default:
		lines = append(lines, p.table(), "", p.detail(), p.pager())
	}
	return strings.Join(lines, "\n")
}

func (p *auditPage) table() string {
	st := p.env.st
	cols := layoutColumns(p.w-3, []int{10, 20, 16, 20}, []int{0, 0, 2, 5},
		[]string{"DATE", "TYPE", "ACTOR", "WHAT"})
	rows := make([][]cell, len(p.entries))
	for i, e := range p.entries {
		actor := e.ActorEmail
		if actor == "" {
			actor = "—"
		}
		rows[i] = []cell{
			{text: day(e.At)},
			{text: clean(e.Type)},
			{text: clean(actor)},
			{text: p.what(e)},
		}
	}
	h := p.tableHeight()
	p.offset = scrollOffset(p.cursor, p.offset, h, len(rows))
	return renderTable(st, cols, rows, p.cursor, p.offset, h)
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

func (p *auditPage) detail() string {
	st := p.env.st
	if p.cursor >= len(p.entries) {
		return ""
	}
	e := p.entries[p.cursor]
	s := "#" + strconv.FormatUint(e.Seq, 10) + " " + e.At.Local().Format("2006-01-02 15:04:05") + " via " + clean(e.Via)
	if e.TokenID != "" {
		s += " · " + clean(e.TokenID)
	}
	if w := p.what(e); w != "" {
		s += " · " + w
	}
	return "  " + st.Subtle.Render(fit(s, max(p.w-4, 0)))
}

func (p *auditPage) pager() string {
	s := "page " + strconv.Itoa(p.pageNo+1)
	if p.pageNo > 0 {
		s = "← " + s
	}
	if p.more {
		s += " →"
	}
	return "  " + p.env.st.Subtle.Render(s)
}

func (p *auditPage) ShortHelp() []key.Binding {
	if p.user.editing {
		return []key.Binding{p.keys.Apply, p.keys.Cancel}
	}
	return []key.Binding{p.keys.Type, p.keys.User, p.keys.Clear, p.list.PageDown}
}

func (p *auditPage) FullHelp() [][]key.Binding {
	if p.user.editing {
		return [][]key.Binding{p.ShortHelp()}
	}
	return [][]key.Binding{
		{p.list.Up, p.list.Down, p.list.PageUp, p.list.PageDown},
		{p.keys.Type, p.keys.TypeBack, p.keys.User, p.keys.Clear},
	}
}
