// Package tui is keydesk's console: My Profile, API Tokens, Users and Audit
// Log as Bubble Tea screens. It reaches the organization only through the
// Backend interface it declares (the store satisfies it), runs every store
// call inside a tea.Cmd, and leaves every "may this person do this?" to the
// store: hiding a screen by role is a courtesy, not a rule.
package tui

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// Backend is what the console needs from the organization's store. Each call
// takes the acting person and decides authorization itself; *store.Store
// satisfies it, and a later backend can too.
type Backend interface {
	Profile(a store.Actor) (models.User, error)
	ListTokens(a store.Actor, q store.TokenQuery) (store.TokenPage, error)
	CreateToken(a store.Actor, spec store.TokenSpec) (models.Token, string, error)
	RevealToken(a store.Actor, id string) (string, error)
	RotateToken(a store.Actor, id string) (models.Token, string, error)
	RevokeToken(a store.Actor, id string) (models.Token, error)
	RevokeAllOf(a store.Actor, ref string) (int, error)
	Assignees(a store.Actor) ([]models.User, error)
	AssignTokens(a store.Actor, holderRefs []string, spec store.TokenSpec) ([]models.Token, error)
	ListUsers(a store.Actor) ([]models.User, error)
	AddUser(a store.Actor, nu store.NewUser) (models.User, error)
	SetRole(a store.Actor, ref string, role models.Role) (int, error)
	AddKey(a store.Actor, ref, keyText string) (models.SSHKey, error)
	RemoveKey(a store.Actor, ref, fingerprint string) error
	RemoveUser(a store.Actor, ref string) (int, error)
	LiveTokenCount(a store.Actor, ref string) (int, error)
	Audit(a store.Actor, q store.AuditQuery) ([]models.AuditEntry, error)
	Subscribe() (<-chan store.Event, func())
	Now() time.Time
}

var _ Backend = (*store.Store)(nil)

// Options are what a console session is made of. Everything is passed in, not
// looked up, so an SSH server can run one console per session side by side.
type Options struct {
	Backend  Backend            // *store.Store satisfies it
	UserID   string             // the person using the console
	Via      string             // "console" locally, "ssh <addr>" over SSH; passed into store.Actor
	Renderer *lipgloss.Renderer // per-session renderer over SSH; nil → lipgloss.DefaultRenderer()
}

// MinWidth and MinHeight are the smallest terminal the console lays out in.
const (
	MinWidth  = 80
	MinHeight = 24
	// maxWidth and maxHeight cap the layout so an absurd terminal size cannot
	// make a frame of hundreds of megabytes.
	maxWidth  = 240
	maxHeight = 120
)

// env is what every screen shares: who is acting, through what, and how to draw.
type env struct {
	be       Backend
	actor    store.Actor
	st       Styles
	renderer *lipgloss.Renderer
}

const (
	pgProfile = iota
	pgTokens
	pgUsers
	pgAudit
)

// Model is the root of the console. It owns the tabs, the help bar, the
// banner and the live-update subscription; screens own everything else.
type Model struct {
	env    *env
	keys   globalKeys
	help   help.Model
	pages  []page
	shown  []int // indexes into pages the current role may see, in tab order
	active int   // index into shown
	stale  []bool

	me     models.User
	loaded bool
	gone   string // why the console cannot be used (account removed)

	width, height int
	status        flashMsg
	banner        []string
	bannerDone    bool

	live *liveState
}

// liveState holds the change-event subscription. It sits behind a pointer so
// that Close works on any copy of the model, including the one an SSH server
// kept from before the program started.
type liveState struct {
	mu     sync.Mutex
	cancel func()
	ch     <-chan store.Event
	done   chan struct{}
	closed bool

	// visible is the page on screen, read by the waiting goroutine; missed
	// records pages that had a relevant change while hidden. Together they let
	// the goroutine swallow events no visible screen cares about without waking
	// the program: an idle console costs no update or redraw when others log in.
	visible atomic.Int32
	missed  map[int]bool
}

func (l *liveState) markMissed(page int) {
	l.mu.Lock()
	if l.missed == nil {
		l.missed = map[int]bool{}
	}
	l.missed[page] = true
	l.mu.Unlock()
}

func (l *liveState) takeMissed(page int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	was := l.missed[page]
	delete(l.missed, page)
	return was
}

// New builds the console for one person. Nothing is read until the program
// runs Init.
func New(opts Options) tea.Model {
	r := opts.Renderer
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	e := &env{be: opts.Backend, actor: store.Actor{UserID: opts.UserID, Via: opts.Via}, st: NewStyles(r), renderer: r}
	h := help.New()
	h.Styles = help.Styles{
		ShortKey: e.st.HelpKey, ShortDesc: e.st.HelpDesc, ShortSeparator: e.st.HelpSep,
		FullKey: e.st.HelpKey, FullDesc: e.st.HelpDesc, FullSeparator: e.st.HelpSep,
		Ellipsis: e.st.HelpSep,
	}
	m := &Model{
		env:   e,
		keys:  newGlobalKeys(),
		help:  h,
		pages: []page{newProfilePage(e), newTokensPage(e), newUsersPage(e), newAuditPage(e)},
		shown: []int{pgProfile},
		live:  &liveState{done: make(chan struct{})},
	}
	m.stale = make([]bool, len(m.pages))
	for i := range m.stale {
		m.stale[i] = true
	}
	return m
}

// Close ends the model's change subscription. The quit keys call it; a host
// that ends the program some other way (an SSH session dropping) should call
// it too, through Close(m). It is safe to call more than once.
func (m *Model) Close() {
	l := m.live
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	close(l.done)
	if l.cancel != nil {
		l.cancel()
	}
}

// Close ends the change subscription of a model made by New. Hosts call it
// when a program ends without the quit key, e.g. when an SSH session drops.
func Close(m tea.Model) {
	if c, ok := m.(interface{ Close() }); ok {
		c.Close()
	}
}

// Run opens the console on the local terminal (alt screen) and returns when it quits.
func Run(opts Options) error {
	if opts.Renderer == nil {
		opts.Renderer = lipgloss.DefaultRenderer()
	}
	// Ask the terminal for its background once, before Bubble Tea owns the
	// input; asking later, mid-frame, would race the key reader.
	opts.Renderer.HasDarkBackground()
	m := New(opts)
	defer Close(m)
	if _, err := tea.NewProgram(m, tea.WithAltScreen()).Run(); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	return nil
}

type subscribedMsg struct {
	ch     <-chan store.Event
	cancel func()
}

// storeEventMsg says the organization changed somewhere; it carries every
// event that queued up, so relevance is judged on all of them.
type storeEventMsg struct{ evs []store.Event }

// subscriptionEndedMsg: the store closed the channel (it is shutting down).
type subscriptionEndedMsg struct{}

func (m *Model) subscribe() tea.Cmd {
	be := m.env.be
	return func() tea.Msg {
		ch, cancel := be.Subscribe()
		return subscribedMsg{ch: ch, cancel: cancel}
	}
}

// waitEvent blocks until a change event that My Profile or the visible page
// cares about. Events only hidden pages care about are noted in l.missed and
// swallowed here, without a message; events that queued up behind a wake-up are
// folded into it: one reload covers them all.
func waitEvent(l *liveState, ch <-chan store.Event, me string, pages int) tea.Cmd {
	note := func(ev store.Event) (wake bool) {
		visible := int(l.visible.Load())
		for i := 0; i < pages; i++ {
			if !relevant(i, []store.Event{ev}, me) {
				continue
			}
			if i == pgProfile || i == visible {
				wake = true
			} else {
				l.markMissed(i)
			}
		}
		return wake
	}
	return func() tea.Msg {
		for {
			select {
			case ev, ok := <-ch:
				if !ok {
					return subscriptionEndedMsg{}
				}
				if !note(ev) {
					continue
				}
				evs := []store.Event{ev}
				for {
					select {
					case more, ok := <-ch:
						if !ok {
							return storeEventMsg{evs: evs}
						}
						note(more)
						evs = append(evs, more)
					default:
						return storeEventMsg{evs: evs}
					}
				}
			case <-l.done:
				return nil
			}
		}
	}
}

// Init subscribes to changes and loads My Profile.
func (m *Model) Init() tea.Cmd {
	m.stale[pgProfile] = false
	return tea.Batch(m.subscribe(), m.pages[pgProfile].Init())
}

func (m *Model) activePage() page { return m.pages[m.shown[m.active]] }

// Update routes messages: window sizes to every screen, keys to the active
// one unless they are global, results to whichever screen asked.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		grew := msg.Height != m.height
		m.width, m.height = msg.Width, msg.Height
		m.resize()
		// Paged screens load a screenful; a new height means a new page size.
		if grew && m.loaded && m.shown[m.active] != pgProfile {
			return m, m.activePage().Reload()
		}
		return m, nil

	case subscribedMsg:
		m.live.mu.Lock()
		closed := m.live.closed
		if !closed {
			m.live.cancel, m.live.ch = msg.cancel, msg.ch
		}
		m.live.mu.Unlock()
		if closed {
			msg.cancel()
			return m, nil
		}
		return m, waitEvent(m.live, msg.ch, m.env.actor.UserID, len(m.pages))

	case storeEventMsg:
		cmds := []tea.Cmd{m.rearm()}
		cur := m.shown[m.active]
		for i, p := range m.pages {
			if !relevant(i, msg.evs, m.env.actor.UserID) {
				continue
			}
			switch {
			case i == pgProfile || i == cur:
				cmds = append(cmds, p.Reload())
				m.stale[i] = false
			default:
				m.stale[i] = true
			}
		}
		return m, tea.Batch(cmds...)

	case subscriptionEndedMsg:
		return m, nil

	case flashMsg:
		m.status = msg
		return m, nil

	case profileLoadedMsg:
		if msg.err == nil {
			m.me, m.loaded, m.gone = msg.user, true, ""
			m.setShown()
			if !m.bannerDone {
				m.banner = bannerLines(msg.tokens, msg.now)
				m.bannerDone = true
				m.resize()
			}
		} else if errors.Is(msg.err, models.ErrPermission) || errors.Is(msg.err, models.ErrNotFound) {
			m.gone = errText(msg.err)
		}

	case tea.KeyMsg:
		return m, m.handleKey(msg)
	}

	// Everything else is a screen's own business: results of its store calls.
	var cmds []tea.Cmd
	for i, p := range m.pages {
		np, cmd := p.Update(msg)
		m.pages[i] = np.(page)
		cmds = append(cmds, cmd)
	}
	return m, tea.Batch(cmds...)
}

// relevant reports whether any of evs can change what page shows to me. With
// a thousand consoles open, reloading every one on every login (each login
// writes an audit entry) would cost N² reloads; only the Audit Log cares about
// everything.
func relevant(page int, evs []store.Event, me string) bool {
	for _, ev := range evs {
		switch page {
		case pgAudit:
			return true
		case pgProfile:
			if slices.Contains(ev.UserIDs, me) {
				return true
			}
		case pgTokens:
			if len(ev.TokenIDs) > 0 || peopleChanged(ev.Type) {
				return true
			}
		case pgUsers:
			if peopleChanged(ev.Type) {
				return true
			}
		default:
			return true
		}
	}
	return false
}

// peopleChanged: event types that change names, roles or membership.
func peopleChanged(typ string) bool {
	switch typ {
	case models.AuditOrgCreated, models.AuditUserAdded, models.AuditUserRemoved, models.AuditRoleChanged,
		models.AuditKeyAdded, models.AuditKeyRemoved, models.AuditUsersImported, models.AuditOwnershipMoved:
		return true
	}
	return false
}

// rearm waits for the next change event, unless the console was closed.
func (m *Model) rearm() tea.Cmd {
	l := m.live
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.ch == nil {
		return nil
	}
	return waitEvent(l, l.ch, m.env.actor.UserID, len(m.pages))
}

func (m *Model) handleKey(msg tea.KeyMsg) tea.Cmd {
	if msg.String() == "ctrl+c" {
		m.Close()
		return tea.Quit
	}
	p := m.activePage()
	capturing := p.Capturing()
	if !capturing {
		switch {
		case key.Matches(msg, m.keys.Quit):
			m.Close()
			return tea.Quit
		case key.Matches(msg, m.keys.Help):
			m.help.ShowAll = !m.help.ShowAll
			m.resize()
			return nil
		case key.Matches(msg, m.keys.Next):
			return m.activate((m.active + 1) % len(m.shown))
		case key.Matches(msg, m.keys.Prev):
			return m.activate((m.active + len(m.shown) - 1) % len(m.shown))
		case key.Matches(msg, m.keys.Jump):
			n := int(msg.String()[0] - '1')
			if n < len(m.shown) {
				return m.activate(n)
			}
			return nil
		case key.Matches(msg, m.keys.Back):
			if len(m.banner) > 0 {
				m.banner = nil
				m.resize()
			}
		}
	}
	np, cmd := p.Update(msg)
	m.pages[m.shown[m.active]] = np.(page)
	if !capturing {
		m.status = flashMsg{}
	}
	return cmd
}

// activate switches tabs, reloading the screen if it missed changes.
func (m *Model) activate(i int) tea.Cmd {
	m.active = i
	m.status = flashMsg{}
	idx := m.shown[i]
	m.live.visible.Store(int32(idx))
	if missed := m.live.takeMissed(idx); m.stale[idx] || missed {
		m.stale[idx] = false
		return m.pages[idx].Reload()
	}
	return nil
}

// pageActions is the permission each tab's content needs; the tabs shown are
// read from the permission matrix, never from a second copy of it here.
var pageActions = map[int]models.Action{
	pgTokens: models.ActTokenListAll,
	pgUsers:  models.ActUserList,
	pgAudit:  models.ActAuditRead,
}

// setShown decides the tabs for the current role. The store refuses the calls
// behind a hidden tab anyway; this only keeps people from dead ends.
func (m *Model) setShown() {
	cur := m.shown[m.active]
	shown := []int{pgProfile}
	for _, pg := range []int{pgTokens, pgUsers, pgAudit} {
		if models.Authorize(m.me.Subject(), pageActions[pg], nil) == nil {
			shown = append(shown, pg)
		}
	}
	m.shown, m.active = shown, 0
	for i, idx := range shown {
		if idx == cur {
			m.active = i
		}
	}
	m.live.visible.Store(int32(m.shown[m.active]))
}

// PageTitles lists the tabs the current person sees, in order.
func (m *Model) PageTitles() []string {
	out := make([]string, len(m.shown))
	for i, idx := range m.shown {
		out[i] = m.pages[idx].Title()
	}
	return out
}

func (m *Model) layoutSize() (int, int) {
	return min(m.width, maxWidth), min(m.height, maxHeight)
}

func (m *Model) tooSmall() bool { return m.width < MinWidth || m.height < MinHeight }

// resize gives every screen the space left between header, banner and help.
func (m *Model) resize() {
	w, h := m.layoutSize()
	m.help.Width = w - 2
	body := h - 2 - m.bannerHeight() - 1 - m.helpHeight()
	for _, p := range m.pages {
		p.SetSize(w, max(body, 0))
	}
}

func (m *Model) bannerHeight() int {
	if len(m.banner) == 0 {
		return 0
	}
	return len(m.banner) + 1
}

func (m *Model) helpHeight() int {
	if !m.help.ShowAll {
		return 1
	}
	return lipgloss.Height(m.help.View(m.keyMap()))
}

// View draws header, banner, the active screen, status line and help.
func (m *Model) View() string {
	st := m.env.st
	if m.tooSmall() {
		msg := fmt.Sprintf("Terminal too small: keydesk needs %d×%d, this one is %d×%d.\nEnlarge the window, or press q to quit.", MinWidth, MinHeight, m.width, m.height)
		if m.width <= 0 || m.height <= 0 {
			return msg
		}
		return lipgloss.Place(m.width, m.height, lipgloss.Center, lipgloss.Center,
			st.Warn.Render(msg), lipgloss.WithWhitespaceChars(" "))
	}
	w, h := m.layoutSize()
	var b strings.Builder
	b.WriteString(m.header(w))
	b.WriteByte('\n')
	b.WriteString(st.Rule.Render(strings.Repeat("─", w)))
	b.WriteByte('\n')
	if len(m.banner) > 0 {
		b.WriteString(st.Banner.Render(strings.Join(m.banner, "\n")))
		b.WriteString("\n\n")
	}
	body := h - 2 - m.bannerHeight() - 1 - m.helpHeight()
	var content string
	switch {
	case m.gone != "":
		content = "\n  " + st.Error.Render(m.gone) + "\n\n  " + st.Subtle.Render("Ask an admin of your organization; press q to quit.")
	case !m.loaded:
		content = "\n  " + st.Subtle.Render("Loading…")
	default:
		content = m.activePage().View()
	}
	b.WriteString(st.App.Width(w).Height(body).MaxHeight(body).MaxWidth(w).Render(content))
	b.WriteByte('\n')
	status := ""
	if m.status.text != "" {
		if m.status.err {
			status = st.Error.Render("✗ " + fit(m.status.text, w-4))
		} else {
			status = st.OK.Render("✓ " + fit(m.status.text, w-4))
		}
	}
	b.WriteString(" " + status + "\n")
	b.WriteString(indent(m.help.View(m.keyMap()), 1))
	return b.String()
}

func (m *Model) header(w int) string {
	st := m.env.st
	tabs := []string{st.Brand.Render(" keydesk ")}
	for i, idx := range m.shown {
		label := fmt.Sprintf("%d %s", i+1, m.pages[idx].Title())
		if i == m.active {
			tabs = append(tabs, st.TabActive.Render(label))
		} else {
			tabs = append(tabs, st.Tab.Render(label))
		}
	}
	left := strings.Join(tabs, st.TabSep.Render("│"))
	room := w - lipgloss.Width(left) - 1
	if room < 4 {
		return left
	}
	who := ""
	if m.loaded {
		// The role's display name if it fits, else its short form, else the name alone.
		for _, c := range []string{clean(m.me.Name) + " · " + m.me.Role.Title(), clean(m.me.Name) + " · " + string(m.me.Role), clean(m.me.Name)} {
			who = c
			if lipgloss.Width(c) <= room {
				break
			}
		}
	}
	// Truncate before styling and do not pad: padding inside the style would
	// stop PlaceHorizontal from pushing the name to the right edge.
	who = st.Who.Render(ansi.Truncate(who, room, "…"))
	who = lipgloss.PlaceHorizontal(room, lipgloss.Right, who)
	return left + who + " "
}

// keyMap is the help bar's content: the active screen's keys, then the
// global ones unless a field has the keyboard.
func (m *Model) keyMap() help.KeyMap {
	p := m.activePage()
	km := combinedKeys{page: p}
	if !p.Capturing() {
		km.global = []key.Binding{m.keys.Next, m.keys.Help, m.keys.Quit}
		km.globalFull = []key.Binding{m.keys.Next, m.keys.Prev, m.keys.Jump, m.keys.Back, m.keys.Help, m.keys.Quit}
	}
	return km
}

type combinedKeys struct {
	page               page
	global, globalFull []key.Binding
}

func (k combinedKeys) ShortHelp() []key.Binding {
	return append(append([]key.Binding(nil), k.page.ShortHelp()...), k.global...)
}

func (k combinedKeys) FullHelp() [][]key.Binding {
	cols := k.page.FullHelp()
	if len(k.globalFull) > 0 {
		cols = append(cols, k.globalFull)
	}
	return cols
}

// bannerLines lists my tokens that expire within 7 days or were unused for
// 90 days: the two ways a forgotten token bites.
func bannerLines(toks []store.TokenView, now time.Time) []string {
	var soon, idle []string
	for _, t := range toks {
		if t.Status != models.StatusActive && t.Status != models.StatusAwaitingReveal {
			continue
		}
		if !t.ExpiresAt.IsZero() && t.ExpiresAt.Sub(now) <= 7*24*time.Hour {
			soon = append(soon, fmt.Sprintf("%q %s", clean(t.Name), until(t.ExpiresAt, now)))
			continue
		}
		last := t.LastUsedAt
		if last.IsZero() {
			last = t.CreatedAt
		}
		if t.Status == models.StatusActive && now.Sub(last) >= 90*24*time.Hour {
			what := "never used"
			if !t.LastUsedAt.IsZero() {
				what = "unused for " + strings.TrimSuffix(ago(t.LastUsedAt, now), " ago")
			}
			idle = append(idle, fmt.Sprintf("%q %s", clean(t.Name), what))
		}
	}
	var out []string
	if len(soon) > 0 {
		out = append(out, "⚠ Expiring within 7 days: "+joinShort(soon, 3))
	}
	if len(idle) > 0 {
		out = append(out, "⚠ Unused for 90+ days (consider revoking): "+joinShort(idle, 3))
	}
	if len(out) > 0 {
		out = append(out, "Rotate or revoke them on My Profile · esc to dismiss")
	}
	return out
}

func joinShort(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}
