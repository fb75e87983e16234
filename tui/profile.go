package tui

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// myTokensLimit bounds My Profile's list: a holder has at most 25 live tokens,
// the rest is history, and the newest history is what people look for.
const myTokensLimit = 200

type profileKeys struct {
	New, Reveal, Rotate, Revoke, Copy, Done key.Binding
}

func newProfileKeys() profileKeys {
	return profileKeys{
		New:    key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "generate new token")),
		Reveal: key.NewBinding(key.WithKeys("v", "enter"), key.WithHelp("v", "reveal assigned")),
		Rotate: key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "rotate")),
		Revoke: key.NewBinding(key.WithKeys("x", "delete"), key.WithHelp("x", "revoke")),
		Copy:   key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy to clipboard")),
		Done:   key.NewBinding(key.WithKeys("enter", "esc"), key.WithHelp("enter/esc", "done (hide it for good)")),
	}
}

// profilePage is My Profile: who I am and my refresh tokens.
type profilePage struct {
	env  *env
	keys profileKeys
	list listKeys
	w, h int

	seq    int
	loaded bool
	err    string
	me     models.User
	toks   []store.TokenView
	now    time.Time

	cursor, offset int
	want           string // token to select once the next load lands

	dialogs
	secret *secretView
}

// secretView shows a plaintext token once. Leaving it zeroes the field, so no
// later frame can draw it: the only copy left is the one the person took.
type secretView struct {
	title  string
	secret string
	copied bool
}

func newProfilePage(e *env) *profilePage {
	return &profilePage{env: e, keys: newProfileKeys(), list: newListKeys()}
}

type profileLoadedMsg struct {
	seq    int
	user   models.User
	tokens []store.TokenView
	now    time.Time
	err    error
}

type secretMsg struct {
	id     string // the token to select afterwards
	title  string
	secret string
	note   string
	err    error
}

type profileDoneMsg struct {
	note string
	err  error
}

type copiedMsg struct{}

func (p *profilePage) Title() string { return "My Profile" }

func (p *profilePage) Init() tea.Cmd { return p.Reload() }

func (p *profilePage) Reload() tea.Cmd {
	p.seq++
	seq, be, a := p.seq, p.env.be, p.env.actor
	return func() tea.Msg {
		u, err := be.Profile(a)
		if err != nil {
			return profileLoadedMsg{seq: seq, err: err}
		}
		// A stakeholder may be refused a listing; they hold no tokens anyway.
		pg, err := be.ListTokens(a, store.TokenQuery{Limit: myTokensLimit})
		if err != nil && !errors.Is(err, models.ErrPermission) {
			return profileLoadedMsg{seq: seq, err: err}
		}
		return profileLoadedMsg{seq: seq, user: u, tokens: pg.Tokens, now: be.Now()}
	}
}

func (p *profilePage) SetSize(w, h int) { p.w, p.h = w, h }

func (p *profilePage) Capturing() bool { return p.dialogOpen() || p.secret != nil }

func (p *profilePage) selected() (store.TokenView, bool) {
	if p.cursor < 0 || p.cursor >= len(p.toks) {
		return store.TokenView{}, false
	}
	return p.toks[p.cursor], true
}

func (p *profilePage) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case profileLoadedMsg:
		if msg.seq != p.seq {
			return p, nil
		}
		if msg.err != nil {
			p.err = errText(msg.err)
			return p, nil
		}
		sel, _ := p.selected()
		if p.want != "" {
			sel.ID, p.want = p.want, ""
		}
		p.loaded, p.err, p.me, p.toks, p.now = true, "", msg.user, msg.tokens, msg.now
		p.cursor = 0
		for i, t := range p.toks {
			if t.ID == sel.ID {
				p.cursor = i
			}
		}
		p.cursor = clamp(p.cursor, 0, max(len(p.toks)-1, 0))
		return p, nil

	case secretMsg:
		if msg.err != nil {
			return p, p.fail(msg.err)
		}
		p.form = nil
		p.want = msg.id
		p.secret = &secretView{title: msg.title, secret: msg.secret}
		return p, tea.Batch(p.Reload(), flash(msg.note))

	case profileDoneMsg:
		if msg.err != nil {
			return p, flashErr(msg.err)
		}
		return p, tea.Batch(p.Reload(), flash(msg.note))

	case copiedMsg:
		if p.secret != nil {
			p.secret.copied = true
		}
		return p, nil

	case tea.KeyMsg:
		return p, p.handleKey(msg)
	}
	return p, nil
}

func (p *profilePage) handleKey(msg tea.KeyMsg) tea.Cmd {
	switch {
	case p.secret != nil:
		switch {
		case key.Matches(msg, p.keys.Copy):
			return copySecret(p.env, p.secret.secret)
		case key.Matches(msg, p.keys.Done):
			p.forgetSecret()
		}
		return nil
	case p.dialogOpen():
		return p.updateDialog(msg)
	}
	if c, ok := p.list.moveCursor(msg, p.cursor, len(p.toks), p.tableHeight()); ok {
		p.cursor = c
		return nil
	}
	canHold := p.me.Role.CanHoldTokens()
	switch {
	case key.Matches(msg, p.keys.New) && canHold:
		p.form = newForm("Generate New Token", p.generate,
			textField("Name", "what will use it, e.g. \"ci deploy\" (1–64 characters)", "ci deploy", models.MaxNameLen),
			expiryField())
	case key.Matches(msg, p.keys.Reveal):
		if t, ok := p.selected(); ok && t.Status == models.StatusAwaitingReveal {
			return p.reveal(t)
		}
	case key.Matches(msg, p.keys.Rotate):
		if t, ok := p.selected(); ok {
			p.confirm = newConfirm("Rotate token "+quote(t.Name)+"?", []string{
				"A new secret replaces " + t.Masked + ". The old one keeps working for a short grace period so you can switch your apps over; after that it is rejected.",
			}, func() tea.Cmd { return p.rotate(t) })
		}
	case key.Matches(msg, p.keys.Revoke):
		if t, ok := p.selected(); ok {
			p.confirm = newConfirm("Revoke token "+quote(t.Name)+"?", []string{
				"Anything using " + t.Masked + " stops working at once, including access tokens made from it. This cannot be undone.",
			}, func() tea.Cmd { return p.revoke(t) })
		}
	}
	return nil
}

// forgetSecret drops the plaintext from the model as the view closes.
func (p *profilePage) forgetSecret() {
	if p.secret != nil {
		p.secret.secret = ""
		p.secret = nil
	}
}

func quote(s string) string { return "\u201c" + clean(s) + "\u201d" }

func parseExpiry(s string) (time.Duration, error) { return models.ParseExpiry(s) }

func (p *profilePage) generate(vals []string) tea.Cmd {
	be, a := p.env.be, p.env.actor
	return func() tea.Msg {
		exp, err := parseExpiry(vals[1])
		if err != nil {
			return secretMsg{err: err}
		}
		tok, secret, err := be.CreateToken(a, store.TokenSpec{Name: vals[0], Expires: exp})
		if err != nil {
			return secretMsg{err: err}
		}
		return secretMsg{id: tok.ID, title: "New refresh token " + quote(tok.Name), secret: secret, note: "Generated " + quote(tok.Name)}
	}
}

func (p *profilePage) reveal(t store.TokenView) tea.Cmd {
	be, a := p.env.be, p.env.actor
	return func() tea.Msg {
		secret, err := be.RevealToken(a, t.ID)
		if err != nil {
			return secretMsg{err: err}
		}
		return secretMsg{id: t.ID, title: "Refresh token " + quote(t.Name) + " assigned by " + clean(t.CreatorName), secret: secret, note: "Revealed " + quote(t.Name)}
	}
}

func (p *profilePage) rotate(t store.TokenView) tea.Cmd {
	be, a := p.env.be, p.env.actor
	return func() tea.Msg {
		tok, secret, err := be.RotateToken(a, t.ID)
		if err != nil {
			return secretMsg{err: err}
		}
		return secretMsg{id: tok.ID, title: "Rotated refresh token " + quote(t.Name), secret: secret, note: "Rotated " + quote(t.Name)}
	}
}

func (p *profilePage) revoke(t store.TokenView) tea.Cmd {
	be, a := p.env.be, p.env.actor
	return func() tea.Msg {
		_, err := be.RevokeToken(a, t.ID)
		return profileDoneMsg{note: "Revoked " + quote(t.Name), err: err}
	}
}

// copySecret writes the secret to the terminal's clipboard with OSC 52. It
// goes through the session's own output, so over SSH it reaches the person's
// terminal, not the server's.
func copySecret(e *env, secret string) tea.Cmd {
	out := e.renderer.Output()
	return func() tea.Msg {
		out.Copy(secret)
		return copiedMsg{}
	}
}

func (p *profilePage) headerLines() []string {
	st := p.env.st
	keys := "no SSH keys"
	if n := len(p.me.Keys); n == 1 {
		keys = "1 SSH key"
	} else if n > 1 {
		keys = fmt.Sprintf("%d SSH keys", n)
	}
	return []string{
		"",
		"  " + st.Title.Render(clean(p.me.Name)),
		"  " + st.Subtle.Render(clean(p.me.Email)+" · "+p.me.Role.Title()+" · "+keys),
		"",
		"  " + st.Section.Render("API Refresh Token"),
		"  " + st.Subtle.Render(fit("Your scripts trade a refresh token for short-lived access tokens.", max(p.w-4, 0))),
		"",
	}
}

func (p *profilePage) tableHeight() int { return max(p.h-len(p.headerLines())-4, 1) }

func (p *profilePage) View() string {
	st := p.env.st
	if !p.loaded {
		if p.err != "" {
			return "\n  " + st.Error.Render(p.err)
		}
		return "\n  " + st.Subtle.Render("Loading…")
	}
	lines := p.headerLines()
	switch {
	case p.secret != nil:
		lines = append(lines, p.secretView())
	case p.dialogOpen():
		lines = append(lines, p.dialogView(st, p.w))
	case !p.me.Role.CanHoldTokens():
		lines = append(lines, "  "+st.Empty.Render("Stakeholders hold no API tokens; ask an admin if you need one."))
	case len(p.toks) == 0:
		lines = append(lines, "  "+st.Empty.Render("No tokens yet — press n to generate one."))
	default:
		lines = append(lines, p.table(), "", p.detail())
	}
	return strings.Join(lines, "\n")
}

func (p *profilePage) table() string {
	st := p.env.st
	// Last use gets a column when there is room; the detail line always has it.
	wide := p.w >= 100
	mins, weights := []int{12, 17, 34, 8}, []int{2, 0, 1, 0}
	titles := []string{"NAME", "STATUS", "CREATED", "EXPIRES"}
	if wide {
		mins, weights, titles = append(mins, 10), append(weights, 1), append(titles, "LAST USED")
	}
	cols := layoutColumns(p.w-3, mins, weights, titles)
	rows := make([][]cell, len(p.toks))
	for i, t := range p.toks {
		rows[i] = []cell{
			{text: clean(t.Name)},
			{text: statusLabel(t.Status), style: statusStyle(st, t.Status)},
			{text: p.createdText(t)},
			{text: until(t.ExpiresAt, p.now)},
		}
		if wide {
			rows[i] = append(rows[i], cell{text: ago(t.LastUsedAt, p.now)})
		}
	}
	h := p.tableHeight()
	p.offset = scrollOffset(p.cursor, p.offset, h, len(rows))
	return renderTable(st, cols, rows, p.cursor, p.offset, h)
}

// createdText is "assigned by <owner> on <date>" for assigned tokens, the
// original product's wording, and "by you on <date>" otherwise.
func (p *profilePage) createdText(t store.TokenView) string {
	if t.Assigned {
		return "assigned by " + clean(t.CreatorName) + " on " + day(t.CreatedAt)
	}
	if t.CreatedBy == p.me.ID {
		return "by you on " + day(t.CreatedAt)
	}
	return "by " + clean(t.CreatorName) + " on " + day(t.CreatedAt)
}

// detail spells out the selected token, untruncated, with what can be done next.
func (p *profilePage) detail() string {
	st := p.env.st
	t, ok := p.selected()
	if !ok {
		return ""
	}
	first := quote(t.Name) + " " + clean(t.Masked) + " · " + p.createdText(t) + " · " + clean(t.ID)
	var next string
	switch t.Status {
	case models.StatusAwaitingReveal:
		next = st.Warn.Render("● Awaiting reveal — press v to see the secret (shown once).")
	case models.StatusActive:
		used := "never used"
		if !t.LastUsedAt.IsZero() {
			used = "last used " + ago(t.LastUsedAt, p.now) + " from " + clean(t.LastUsedBy)
		}
		next = st.Subtle.Render(used + " · r rotate · x revoke")
	case models.StatusRotated:
		next = st.Subtle.Render("rotated on " + day(t.RotatedAt) + "; replaced by " + clean(t.RotatedTo))
	case models.StatusRevoked:
		next = st.Subtle.Render("revoked on " + day(t.RevokedAt))
	case models.StatusExpired:
		next = st.Subtle.Render("expired on " + day(t.ExpiresAt) + " — press n to generate a new one")
	}
	w := max(p.w-4, 0)
	return "  " + st.Subtle.Render(fit(first, w)) + "\n  " + next
}

func (p *profilePage) secretView() string {
	st := p.env.st
	s := p.secret
	lines := []string{
		st.Title.Render(s.title),
		"",
		"  " + st.Secret.Render(s.secret),
		"",
		st.Warn.Render("⚠ Please keep your Refresh Token as safe as your Password."),
		st.Subtle.Render("  It is shown only this once; keydesk keeps no readable copy."),
		"",
	}
	if s.copied {
		lines = append(lines, st.OK.Render("✓ Copied to your clipboard (OSC 52)."))
	} else {
		lines = append(lines, st.Key.Render("c")+st.Subtle.Render(" copy to clipboard   ")+st.Key.Render("enter")+st.Subtle.Render(" done"))
	}
	return indent(st.Dialog.Render(strings.Join(lines, "\n")), 2)
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

func (p *profilePage) ShortHelp() []key.Binding {
	switch {
	case p.secret != nil:
		return []key.Binding{p.keys.Copy, p.keys.Done}
	case p.dialogOpen():
		return p.dialogHelp()
	}
	var ks []key.Binding
	if p.me.Role.CanHoldTokens() {
		ks = append(ks, p.keys.New)
	}
	if t, ok := p.selected(); ok {
		switch t.Status {
		case models.StatusAwaitingReveal:
			ks = append(ks, p.keys.Reveal, p.keys.Revoke)
		case models.StatusActive:
			ks = append(ks, p.keys.Rotate, p.keys.Revoke)
		}
	}
	return ks
}

func (p *profilePage) FullHelp() [][]key.Binding {
	if p.Capturing() {
		return [][]key.Binding{p.ShortHelp()}
	}
	return [][]key.Binding{
		{p.list.Up, p.list.Down, p.list.Top, p.list.Bottom},
		{p.keys.New, p.keys.Reveal, p.keys.Rotate, p.keys.Revoke},
	}
}
