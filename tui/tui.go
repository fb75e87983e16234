// Package tui is keydesk's console: My Profile, API Tokens, Users and Audit
// Log as Bubble Tea screens. It reaches the organization only through the
// Backend interface it declares (the store satisfies it), runs every store
// call inside a tea.Cmd, and leaves every "may this person do this?" to the
// store: hiding a screen by role is a courtesy, not a rule.
package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	"github.com/lucasb-eyer/go-colorful"
	"github.com/muesli/termenv"
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
	Key      string             // the SSH key's fingerprint over SSH (store.Actor.Key); empty locally
	Renderer *lipgloss.Renderer // per-session renderer over SSH; nil → lipgloss.DefaultRenderer()
	// Environ is the terminal's environment (the SSH client's, or the
	// process's): NO_COLOR and COLORFGBG are read from it.
	Environ []string
	// Background overrides what Environ says about the background (Run
	// sets it when the terminal answered the OSC 11 query).
	Background Background
	// Context ends the console's change subscription when done (an SSH
	// session's context); Close ends it too.
	Context context.Context
	// FlashFor is how long a status note stays (0: 5 s; < 0: until the
	// next key). Debounce is the pause after a keystroke before a filter is
	// applied (0: 150 ms; < 0: at once). Tests set both negative.
	FlashFor, Debounce time.Duration
}

// MinWidth and MinHeight are the smallest terminal the console lays out in:
// 80×23, since tmux on an 80×24 terminal leaves 23 rows.
const (
	MinWidth  = 80
	MinHeight = 23
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
	// me is the acting person as last loaded (role included); screens ask
	// the permission rules with it before offering an action.
	me models.User

	flashFor, debounce time.Duration
}

// subject is the acting person as the permission rules see them.
func (e *env) subject() models.Subject { return e.me.Subject() }

// may asks the permission matrix whether the actor may do act to target
// (nil: no target). The store asks the same rules again when the call is
// made; asking first only keeps the console from offering what it refuses.
func (e *env) may(act models.Action, target *models.Subject) bool {
	return models.Authorize(e.subject(), act, target) == nil
}

// debounced returns a command that delivers msg after the debounce pause.
func (e *env) debounced(msg tea.Msg) tea.Cmd {
	if e.debounce < 0 {
		return func() tea.Msg { return msg }
	}
	return tea.Tick(e.debounce, func(time.Time) tea.Msg { return msg })
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
	env      *env
	keys     globalKeys
	help     help.Model
	showHelp bool
	pages    []page
	shown    []int // indexes into pages the current role may see, in tab order
	active   int   // index into shown
	stale    []bool

	loaded bool
	gone   string // why the console cannot be used (account removed)

	width, height int
	status        flashMsg
	flashSeq      int
	banner        []string
	dismissed     string // the banner text esc dismissed; it returns only if it changes

	ctx  context.Context
	live *liveState
}

// liveState holds the change-event subscription. It sits behind a pointer so
// that Close works on any copy of the model, including the one an SSH server
// kept from before the program started.
type liveState struct {
	mu     sync.Mutex
	cancel context.CancelFunc // ends ctx, and with it the subscription
	ch     <-chan store.Event
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

// envLookup reads a variable from an environment list, last one winning.
func envLookup(environ []string) func(string) string {
	return func(k string) string {
		for i := len(environ) - 1; i >= 0; i-- {
			if v, ok := strings.CutPrefix(environ[i], k+"="); ok {
				return v
			}
		}
		return ""
	}
}

// New builds the console for one person. Nothing is read until the program
// runs Init.
func New(opts Options) tea.Model {
	r := opts.Renderer
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	getenv := envLookup(opts.Environ)
	th := Theme{Background: opts.Background, NoColor: getenv("NO_COLOR") != ""}
	if th.Background == BackgroundUnknown {
		th.Background = BackgroundFromEnv(getenv)
	}
	e := &env{be: opts.Backend, actor: store.Actor{UserID: opts.UserID, Via: opts.Via, Key: opts.Key}, st: SharedStyles(r, th), renderer: r,
		flashFor: opts.FlashFor, debounce: opts.Debounce}
	if e.flashFor == 0 {
		e.flashFor = 5 * time.Second
	}
	if e.debounce == 0 {
		e.debounce = 150 * time.Millisecond
	}
	h := help.New()
	h.Styles = help.Styles{
		ShortKey: e.st.HelpKey, ShortDesc: e.st.HelpDesc, ShortSeparator: e.st.HelpSep,
		FullKey: e.st.HelpKey, FullDesc: e.st.HelpDesc, FullSeparator: e.st.HelpSep,
		Ellipsis: e.st.HelpSep,
	}
	ctx := opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithCancel(ctx)
	// Hidden tabs are built when first shown (lazyPage).
	pages := []page{newProfilePage(e),
		lazy("API Tokens", tokensConcerned, func() page { return newTokensPage(e) }),
		lazy("Users", usersConcerned, func() page { return newUsersPage(e) }),
		lazy("Audit Log", auditConcerned, func() page { return newAuditPage(e) })}
	m := &Model{
		env:   e,
		keys:  newGlobalKeys(),
		help:  h,
		pages: pages,
		shown: []int{pgProfile},
		ctx:   ctx,
		live:  &liveState{cancel: cancel},
	}
	m.stale = make([]bool, len(m.pages))
	for i := range m.stale {
		m.stale[i] = true
	}
	return m
}

// Close ends the model's change subscription. The quit keys call it; a host
// that ends the program some other way (an SSH session dropping) should call
// it too, through Close(m), or cancel Options.Context. It is safe to call
// more than once.
func (m *Model) Close() {
	l := m.live
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.cancel()
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
	if opts.Environ == nil {
		opts.Environ = os.Environ()
	}
	// Ask the terminal for its background once, before Bubble Tea owns the
	// input; asking later, mid-frame, would race the key reader. Only a real
	// answer (an RGB colour) counts: termenv falls back to black otherwise.
	if opts.Background == BackgroundUnknown && BackgroundFromEnv(envLookup(opts.Environ)) == BackgroundUnknown {
		if c, ok := termenv.NewOutput(os.Stdout).BackgroundColor().(termenv.RGBColor); ok {
			if col, err := colorful.Hex(string(c)); err == nil {
				if _, _, l := col.Hsl(); l >= 0.5 {
					opts.Background = BackgroundLight
				} else {
					opts.Background = BackgroundDark
				}
			}
		}
	}
	m := New(opts)
	defer Close(m)
	if _, err := tea.NewProgram(m, tea.WithAltScreen(), tea.WithMouseCellMotion()).Run(); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	return nil
}

type subscribedMsg struct{ ch <-chan store.Event }

// storeEventMsg says the organization changed in ways the listed pages care
// about (the waiting goroutine asked each page); those on screen reload.
type storeEventMsg struct{ pages []int }

// subscriptionEndedMsg: the store closed the channel (it is shutting down).
type subscriptionEndedMsg struct{}

// subscribe opens the console's one change subscription. It ends when the
// console's context does (Close, or the host's context).
func (m *Model) subscribe() tea.Cmd {
	be, ctx := m.env.be, m.ctx
	return func() tea.Msg {
		ch, cancel := be.Subscribe()
		// Not a goroutine parked on ctx.Done for the console's lifetime:
		// with a thousand consoles open that is a thousand stacks.
		context.AfterFunc(ctx, cancel)
		return subscribedMsg{ch: ch}
	}
}

// concerns asks every page whether ev changes what it shows.
func (m *Model) concerns() func(page int, ev store.Event) bool {
	pages := append([]page(nil), m.pages...)
	return func(i int, ev store.Event) bool { return pages[i].Concerns(ev) }
}

// waitEvent blocks until a change event that My Profile or the visible page
// is concerned by. Events only hidden pages care about are noted in l.missed
// and swallowed here, without a message; events that queued up behind a
// wake-up are folded into it: one reload covers them all.
func waitEvent(ctx context.Context, l *liveState, ch <-chan store.Event, pages int, concerns func(int, store.Event) bool) tea.Cmd {
	note := func(ev store.Event, wake map[int]bool) {
		visible := int(l.visible.Load())
		for i := 0; i < pages; i++ {
			if !concerns(i, ev) {
				continue
			}
			if i == pgProfile || i == visible {
				wake[i] = true
			} else {
				l.markMissed(i)
			}
		}
	}
	msgOf := func(wake map[int]bool) storeEventMsg {
		var out []int
		for i := 0; i < pages; i++ {
			if wake[i] {
				out = append(out, i)
			}
		}
		return storeEventMsg{pages: out}
	}
	return func() tea.Msg {
		wake := map[int]bool{}
		for {
			select {
			case ev, ok := <-ch:
				if !ok {
					return subscriptionEndedMsg{}
				}
				if note(ev, wake); len(wake) == 0 {
					continue
				}
				for {
					select {
					case more, ok := <-ch:
						if !ok {
							return msgOf(wake)
						}
						note(more, wake)
					default:
						return msgOf(wake)
					}
				}
			case <-ctx.Done():
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

// clearFlashMsg ends the status note with the same sequence number.
type clearFlashMsg struct{ seq int }

// Update routes messages: window sizes to every screen, keys to the active
// one unless they are global, results to whichever screen asked.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return m, m.resize()

	case subscribedMsg:
		m.live.mu.Lock()
		m.live.ch = msg.ch
		m.live.mu.Unlock()
		return m, m.rearm()

	case storeEventMsg:
		cmds := []tea.Cmd{m.rearm()}
		cur := m.shown[m.active]
		for _, i := range msg.pages {
			if i == pgProfile || i == cur {
				cmds = append(cmds, m.pages[i].Reload())
				m.stale[i] = false
			} else {
				m.stale[i] = true
			}
		}
		return m, tea.Batch(cmds...)

	case subscriptionEndedMsg:
		return m, nil

	case flashMsg:
		m.status = msg
		m.flashSeq++
		if m.env.flashFor > 0 && msg.text != "" {
			seq := m.flashSeq
			return m, tea.Tick(m.env.flashFor, func(time.Time) tea.Msg { return clearFlashMsg{seq: seq} })
		}
		return m, nil

	case clearFlashMsg:
		if msg.seq == m.flashSeq {
			m.status = flashMsg{}
		}
		return m, nil

	case profileLoadedMsg:
		if msg.err == nil {
			m.env.me = msg.user
			m.loaded, m.gone = true, ""
			m.setShown()
			m.setBanner(bannerLines(msg.user, msg.tokens, msg.now))
		} else if errors.Is(msg.err, models.ErrPermission) || errors.Is(msg.err, models.ErrNotFound) {
			m.gone = errText(msg.err)
		}
		cmds := m.broadcast(msg)
		return m, tea.Batch(cmds, m.resize())

	case showTokensMsg:
		for i, idx := range m.shown {
			if idx == pgTokens {
				tp := unwrap(m.pages[pgTokens]).(*tokensPage)
				tp.filter.input.SetValue(msg.filter)
				tp.filter.commit()
				m.stale[pgTokens] = false
				return m, tea.Batch(m.activate(i), tp.restart())
			}
		}
		return m, nil

	case tea.MouseMsg:
		return m, m.handleMouse(msg)

	case tea.KeyMsg:
		if msg.Type == tea.KeyRunes && models.HasUnsafe(string(msg.Runes)) {
			// Typed or pasted text is cleaned before any field sees it, so no
			// widget (ours or huh's) ever echoes an escape or invisible character.
			clean := models.SanitizeLine(string(msg.Runes))
			if clean == "" {
				return m, nil
			}
			msg.Runes = []rune(clean)
		}
		return m, m.handleKey(msg)
	}
	// Everything else is a screen's own business: results of its store calls.
	return m, m.broadcast(msg)
}

// broadcast hands msg to every screen; each ignores what it did not ask for.
func (m *Model) broadcast(msg tea.Msg) tea.Cmd {
	var cmds []tea.Cmd
	for i, p := range m.pages {
		np, cmd := p.Update(msg)
		m.pages[i] = np.(page)
		cmds = append(cmds, cmd)
	}
	return tea.Batch(cmds...)
}

// setBanner shows lines unless they are exactly what esc dismissed.
func (m *Model) setBanner(lines []string) {
	text := strings.Join(lines, "\n")
	switch {
	case text == "":
		m.banner, m.dismissed = nil, ""
	case text == m.dismissed:
		m.banner = nil
	default:
		m.banner, m.dismissed = lines, ""
	}
}

// rearm waits for the next change event, unless the console was closed.
func (m *Model) rearm() tea.Cmd {
	l := m.live
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.ch == nil {
		return nil
	}
	return waitEvent(m.ctx, l, l.ch, len(m.pages), m.concerns())
}

func (m *Model) quit() tea.Cmd {
	m.Close()
	return tea.Quit
}

func (m *Model) handleKey(msg tea.KeyMsg) tea.Cmd {
	if msg.String() == "ctrl+c" {
		return m.quit()
	}
	if m.tooSmall() {
		if key.Matches(msg, m.keys.Quit) {
			return m.quit()
		}
		return nil
	}
	p := m.activePage()
	capturing := p.Capturing()
	// Bubble Tea v1 hands a burst of typed runes ("jjjj" in one read) over
	// as one message; outside a text field each rune is a key of its own.
	// esc and a key typed quickly after it arrive as one alt+key; outside a
	// text field (where alt+b/f move by words) nothing is bound to alt, so
	// it is the two keys the person pressed.
	if !capturing && msg.Alt && msg.Type == tea.KeyRunes && !msg.Paste {
		first := m.handleKey(tea.KeyMsg{Type: tea.KeyEsc})
		return tea.Batch(first, m.handleKey(tea.KeyMsg{Type: tea.KeyRunes, Runes: msg.Runes}))
	}
	if !capturing && msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !msg.Paste {
		var cmds []tea.Cmd
		for _, r := range msg.Runes {
			cmds = append(cmds, m.handleKey(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: msg.Alt}))
		}
		return tea.Batch(cmds...)
	}
	if !capturing {
		many := len(m.shown) > 1
		switch {
		case key.Matches(msg, m.keys.Quit):
			return m.quit()
		case key.Matches(msg, m.keys.Help):
			m.showHelp = !m.showHelp
			return m.resize()
		case m.showHelp && key.Matches(msg, m.keys.Back):
			m.showHelp = false
			return m.resize()
		case many && key.Matches(msg, m.keys.Next):
			return m.activate((m.active + 1) % len(m.shown))
		case many && key.Matches(msg, m.keys.Prev):
			return m.activate((m.active + len(m.shown) - 1) % len(m.shown))
		case key.Matches(msg, m.keys.Jump):
			if n := int(msg.String()[0] - '1'); n < len(m.shown) && many {
				return m.activate(n)
			}
			return nil
		case key.Matches(msg, m.keys.Back) && len(m.banner) > 0:
			m.dismissed = strings.Join(m.banner, "\n")
			m.banner = nil
			return m.resize()
		}
		m.status = flashMsg{}
	}
	np, cmd := p.Update(msg)
	m.pages[m.shown[m.active]] = np.(page)
	return cmd
}

// handleMouse: the wheel scrolls the list on screen, a click on a tab opens
// it, a click on a row selects it.
func (m *Model) handleMouse(msg tea.MouseMsg) tea.Cmd {
	if m.tooSmall() || !m.loaded {
		return nil
	}
	if msg.Action != tea.MouseActionPress {
		return nil
	}
	p := m.activePage()
	switch msg.Button {
	case tea.MouseButtonWheelUp:
		return m.handleKey(tea.KeyMsg{Type: tea.KeyUp})
	case tea.MouseButtonWheelDown:
		return m.handleKey(tea.KeyMsg{Type: tea.KeyDown})
	case tea.MouseButtonLeft:
		if msg.Y == 0 && !p.Capturing() {
			for i, span := range m.tabSpans() {
				if msg.X >= span[0] && msg.X < span[1] {
					return m.activate(i)
				}
			}
			return nil
		}
		if c, ok := p.(clicker); ok && !p.Capturing() {
			return c.Click(msg.Y - m.bodyTop())
		}
	}
	return nil
}

// clicker is a page whose rows can be selected with the mouse; y counts
// from the top of the page's area.
type clicker interface{ Click(y int) tea.Cmd }

// bodyTop is the screen row where pages start.
func (m *Model) bodyTop() int { return 2 + m.bannerHeight() }

// activate switches tabs, reloading the screen if it missed changes.
func (m *Model) activate(i int) tea.Cmd {
	m.active = i
	m.status = flashMsg{}
	idx := m.shown[i]
	m.live.visible.Store(int32(idx))
	cmd := m.resize()
	if missed := m.live.takeMissed(idx); m.stale[idx] || missed {
		m.stale[idx] = false
		return tea.Batch(cmd, m.pages[idx].Reload())
	}
	return cmd
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
		if m.env.may(pageActions[pg], nil) {
			shown = append(shown, pg)
		}
	}
	m.shown, m.active = shown, 0
	for i, idx := range shown {
		if idx == cur {
			m.active = i
		}
	}
	m.keys.Jump.SetHelp("1-"+itoa(len(shown)), "go to tab")
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

// bodyHeight is what is left for the page between header, banner, status
// line and help: derived from what is drawn, never a constant.
func (m *Model) bodyHeight() int {
	_, h := m.layoutSize()
	return max(h-m.bodyTop()-1-m.helpHeight(), 0)
}

// resize gives every screen the space left between header, banner and help.
// The screen on view reloads when its page size changed (a store page is
// one screenful); hidden ones reload when next shown.
func (m *Model) resize() tea.Cmd {
	if m.tooSmall() {
		return nil
	}
	w, _ := m.layoutSize()
	body := m.bodyHeight()
	cur := m.shown[m.active]
	var cmd tea.Cmd
	for i, p := range m.pages {
		if p.SetSize(w, body) {
			if i == cur && m.loaded {
				cmd = p.Reload()
			} else {
				m.stale[i] = true
			}
		}
	}
	return cmd
}

func (m *Model) bannerHeight() int {
	if len(m.banner) == 0 {
		return 0
	}
	return len(m.banner) + 1
}

func (m *Model) helpHeight() int {
	if !m.showHelp {
		return 1
	}
	w, _ := m.layoutSize()
	return len(m.fullHelpLines(w - 2))
}

// View draws header, banner, the active screen, status line and help.
func (m *Model) View() string {
	st := m.env.st
	if m.tooSmall() {
		return m.tooSmallView()
	}
	w, _ := m.layoutSize()
	var b strings.Builder
	b.WriteString(m.header(w))
	b.WriteByte('\n')
	b.WriteString(st.Rule.Render(strings.Repeat("─", w)))
	b.WriteByte('\n')
	if len(m.banner) > 0 {
		lines := make([]string, len(m.banner))
		for i, l := range m.banner {
			lines[i] = clip(l, w-3)
		}
		b.WriteString(st.Banner.Render(strings.Join(lines, "\n")))
		b.WriteString("\n\n")
	}
	body := m.bodyHeight()
	var content string
	switch {
	case m.gone != "":
		content = "\n  " + st.Error.Render(clip(m.gone, w-4)) + "\n\n  " + st.Subtle.Render("Ask an admin of your organization; press q to quit.")
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
			status = st.Error.Render("✗ " + clip(m.status.text, w-4))
		} else {
			status = st.OK.Render("✓ " + clip(m.status.text, w-4))
		}
	}
	b.WriteString(" " + status + "\n")
	if m.showHelp {
		b.WriteString(indent(strings.Join(m.fullHelpLines(w-2), "\n"), 1))
	} else {
		b.WriteString(" " + m.shortHelp(w-2))
	}
	return b.String()
}

// tooSmallView says what size is needed: the longest wording that fits,
// wrapped, so the note itself is never cut (down to about 12×2).
func (m *Model) tooSmallView() string {
	st := m.env.st
	need := fmt.Sprintf("%d×%d", MinWidth, MinHeight)
	variants := []string{
		fmt.Sprintf("Terminal too small: keydesk needs %s, this one is %d×%d. Enlarge the window, or press q to quit.", need, m.width, m.height),
		fmt.Sprintf("Terminal too small: keydesk needs %s. Enlarge it, or press q to quit.", need),
		"Too small: needs " + need + ". q quits.",
		"too small",
	}
	if h, ok := m.pages[pgProfile].(interface{ HoldsSecret() bool }); ok && h.HoldsSecret() {
		variants = append([]string{
			fmt.Sprintf("Terminal too small (%d×%d; keydesk needs %s) and a new secret is on screen. Enlarge the window to copy it; q quits and it is gone for good.", m.width, m.height, need),
			"Too small to show your new secret: enlarge to " + need + ". q quits; the secret is gone then.",
		}, variants...)
	}
	if m.width <= 0 || m.height <= 0 {
		return variants[0]
	}
	w := max(m.width-2, 1)
	text := variants[len(variants)-1]
	for _, v := range variants {
		wrapped := st.Warn.Width(w).Render(v)
		if lipgloss.Height(wrapped) <= m.height && lipgloss.Width(wrapped) <= m.width {
			text = wrapped
			break
		}
	}
	return lipgloss.Place(m.width, m.height, lipgloss.Center, lipgloss.Center, text, lipgloss.WithWhitespaceChars(" "))
}

// tabSpans are the screen columns [from, to) of each tab label.
func (m *Model) tabSpans() [][2]int {
	st := m.env.st
	x := lipgloss.Width(st.Brand.Render(" keydesk "))
	var out [][2]int
	for i := range m.shown {
		x++ // separator
		wd := lipgloss.Width(m.tabLabel(i))
		out = append(out, [2]int{x, x + wd})
		x += wd
	}
	return out
}

func (m *Model) tabLabel(i int) string {
	st := m.env.st
	label := fmt.Sprintf("%d %s", i+1, m.pages[m.shown[i]].Title())
	if len(m.shown) == 1 {
		label = m.pages[m.shown[i]].Title()
	}
	if i == m.active {
		if st.Plain {
			return st.TabActive.Render("[" + label + "]")
		}
		return st.TabActive.Render(label)
	}
	return st.Tab.Render(label)
}

func (m *Model) header(w int) string {
	st := m.env.st
	tabs := []string{st.Brand.Render(" keydesk ")}
	for i := range m.shown {
		tabs = append(tabs, m.tabLabel(i))
	}
	left := strings.Join(tabs, st.TabSep.Render("│"))
	room := w - lipgloss.Width(left) - 1
	if room < 4 {
		return left
	}
	who := ""
	if m.loaded {
		me := m.env.me
		// The role's display name if it fits, else its short form, else the name alone.
		for _, c := range []string{clean(me.Name) + " · " + me.Role.Title(), clean(me.Name) + " · " + string(me.Role), clean(me.Name)} {
			who = c
			if models.CellWidth(c) <= room {
				break
			}
		}
	}
	// Truncate before styling and do not pad: padding inside the style would
	// stop PlaceHorizontal from pushing the name to the right edge.
	who = st.Who.Render(clip(who, room))
	who = lipgloss.PlaceHorizontal(room, lipgloss.Right, who)
	return left + who + " "
}

// globalShort and globalFull are the root's keys that act right now.
func (m *Model) globalKeys(full bool) []key.Binding {
	if m.activePage().Capturing() {
		return nil
	}
	many := len(m.shown) > 1
	var ks []key.Binding
	if many {
		ks = append(ks, m.keys.Next)
		if full {
			ks = append(ks, m.keys.Prev, m.keys.Jump)
		}
	}
	if full && len(m.banner) > 0 {
		ks = append(ks, m.keys.Dismiss)
	}
	help := m.keys.Help
	if m.showHelp {
		help = m.keys.CloseHelp
	}
	return append(ks, help, m.keys.Quit)
}

// shortHelp is the help bar: the active screen's keys, then the global ones
// unless a field has the keyboard. The global ones always show; the page's
// get the rest of the width, and those that do not fit give way to "…"
// (? lists them all).
func (m *Model) shortHelp(width int) string {
	global := m.globalKeys(false)
	h := m.help
	h.Width = 0
	right := h.ShortHelpView(global)
	sep := m.env.st.HelpSep.Render(" • ")
	if right == "" {
		return m.fitHelp(m.activePage().ShortHelp(), width)
	}
	left := m.fitHelp(m.activePage().ShortHelp(), width-lipgloss.Width(right)-lipgloss.Width(sep))
	if left == "" {
		return right
	}
	return left + sep + right
}

// fitHelp is the longest run of ks, from the first, that fits width with
// " …" after it when keys were left out. bubbles' own cut (help.Width) adds
// every remaining key once even the "…" does not fit: at 80 columns API
// Tokens' bar came out 108 cells wide.
func (m *Model) fitHelp(ks []key.Binding, width int) string {
	var on []key.Binding
	for _, k := range ks {
		if k.Enabled() {
			on = append(on, k)
		}
	}
	h := m.help
	h.Width = 0
	tail := " " + h.Styles.Ellipsis.Render(h.Ellipsis)
	for n := len(on); n > 0; n-- {
		s := h.ShortHelpView(on[:n])
		if n < len(on) {
			s += tail
		}
		if lipgloss.Width(s) <= width {
			return s
		}
	}
	return ""
}

// fullHelpLines lays out every key that acts here in as many columns as fit
// width, so none is cut or dropped.
func (m *Model) fullHelpLines(width int) []string {
	st := m.env.st
	var all []key.Binding
	for _, col := range m.activePage().FullHelp() {
		for _, k := range col {
			if k.Enabled() && k.Help().Key != "" {
				all = append(all, k)
			}
		}
	}
	all = append(all, m.globalKeys(true)...)
	kw, dw := 0, 0
	for _, k := range all {
		kw = max(kw, models.CellWidth(k.Help().Key))
		dw = max(dw, models.CellWidth(k.Help().Desc))
	}
	colW := kw + 1 + dw + 3
	cols := max(min(width/colW, len(all)), 1)
	rows := (len(all) + cols - 1) / cols
	lines := make([]string, rows)
	for i, k := range all {
		r := i % rows
		cell := st.HelpKey.Render(fit(k.Help().Key, kw)) + " " + st.HelpDesc.Render(fit(k.Help().Desc, min(dw, max(width-kw-1, 1))))
		if lines[r] != "" {
			cell = "   " + cell
		}
		lines[r] += cell
	}
	return lines
}

// bannerLines is what the banner says to me: tokens awaiting my reveal,
// tokens of mine revoked by someone else in the last 7 days, reuse of a
// rotated secret of mine, and tokens that expire within 7 days or were unused
// for 90 days: the ways a forgotten token bites. It is recomputed on every
// load, so it never warns about a token that is gone.
func bannerLines(me models.User, toks []store.TokenView, now time.Time) []string {
	var soon, idle, waiting, revoked, reused []string
	for _, t := range toks {
		switch {
		case t.Status == models.StatusAwaitingReveal:
			waiting = append(waiting, quote(t.Name))
		case t.Status == models.StatusRevoked && t.RevokedBy == "" && now.Sub(t.RevokedAt) <= 7*24*time.Hour:
			// Only the store itself revokes with no one as the revoker: a
			// rotated secret of this chain was used after its grace period.
			reused = append(reused, quote(t.Name))
		case t.Status == models.StatusRevoked && t.RevokedBy != me.ID && now.Sub(t.RevokedAt) <= 7*24*time.Hour:
			by := "someone else"
			if t.RevokerName != "" {
				by = clean(t.RevokerName)
			}
			revoked = append(revoked, quote(t.Name)+" by "+by)
		}
		if t.Status != models.StatusActive && t.Status != models.StatusAwaitingReveal {
			continue
		}
		if !t.ExpiresAt.IsZero() && t.ExpiresAt.Sub(now) <= 7*24*time.Hour {
			soon = append(soon, quote(t.Name)+" "+until(t.ExpiresAt, now))
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
			idle = append(idle, quote(t.Name)+" "+what)
		}
	}
	var out []string
	if len(waiting) > 0 {
		out = append(out, "● Assigned to you, awaiting your reveal: "+joinShort(waiting, 3))
	}
	if len(reused) > 0 {
		out = append(out, "⚠ Reuse detected: an old secret was used after rotation, so keydesk revoked "+joinShort(reused, 3))
	}
	if len(revoked) > 0 {
		out = append(out, "✗ Your tokens revoked this week: "+joinShort(revoked, 3))
	}
	if len(soon) > 0 {
		out = append(out, "⚠ Expiring within 7 days: "+joinShort(soon, 3))
	}
	if len(idle) > 0 {
		out = append(out, "⚠ Unused for 90+ days (consider revoking): "+joinShort(idle, 3))
	}
	if len(out) > 3 {
		out = append(out[:2], "…and more on My Profile")
	}
	if len(out) > 0 {
		out = append(out, "See them on My Profile · esc dismisses this")
	}
	return out
}

func joinShort(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}
