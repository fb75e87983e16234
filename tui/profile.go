package tui

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/huh"
	"github.com/charmbracelet/lipgloss"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// myTokensLimit bounds My Profile's list: a holder has at most 25 live tokens,
// the rest is history, and the newest history is what people look for.
const myTokensLimit = 200

// defaultGrace is how long a rotated secret keeps working when the backend
// does not say (the store's default).
const defaultGrace = 10 * time.Minute

type profileKeys struct {
	New, Reveal, Rotate, Revoke, Rename, Copy, Done, Approve, Decline key.Binding
}

func newProfileKeys() profileKeys {
	return profileKeys{
		New:    key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "new token")),
		Reveal: key.NewBinding(key.WithKeys("v", "enter"), key.WithHelp("v", "reveal")),
		Rotate: key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "rotate")),
		Revoke: key.NewBinding(key.WithKeys("x", "delete"), key.WithHelp("x", "revoke")),
		Rename: key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "rename")),
		Copy:   key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy to clipboard")),
		Done:   key.NewBinding(key.WithKeys("enter", "esc"), key.WithHelp("enter", "done (hide it for good)")),
		// Only offered while a key someone else added for me waits.
		Approve: key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "approve SSH key")),
		Decline: key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "decline SSH key")),
	}
}

// keyApprover is a backend that can approve a pending key (the store can).
type keyApprover interface {
	ApproveKey(a store.Actor, fingerprint string) (models.SSHKey, error)
}

// pendingKey is the first of my keys that someone else added and that waits
// for my approval.
func (p *profilePage) pendingKey() (models.SSHKey, bool) {
	if _, ok := p.env.be.(keyApprover); !ok {
		return models.SSHKey{}, false
	}
	for _, k := range p.me.Keys {
		if k.Pending {
			return k, true
		}
	}
	return models.SSHKey{}, false
}

// declineKey removes a pending key that is not mine, so it never logs in.
// The console was the one place that could not: its dialog sent a user to a
// command line.
func (p *profilePage) declineKey(k models.SSHKey) tea.Cmd {
	be, a, email := p.env.be, p.env.actor, p.me.Email
	return func() tea.Msg {
		err := be.RemoveKey(a, email, k.Fingerprint)
		return profileDoneMsg{note: "Removed SSH key " + k.Fingerprint, err: err}
	}
}

func (p *profilePage) approveKey(k models.SSHKey) tea.Cmd {
	be, a := p.env.be.(keyApprover), p.env.actor
	return func() tea.Msg {
		_, err := be.ApproveKey(a, k.Fingerprint)
		return profileDoneMsg{note: "Approved SSH key " + k.Fingerprint, err: err}
	}
}

// profileMode is what My Profile is doing: one value, read by Update, View
// and the help alike.
type profileMode int

const (
	profList   profileMode = iota // the token list
	profDialog                    // a form or confirmation (dialogs.cur)
	profSecret                    // a plaintext secret, shown once (secret)
)

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
	sc     scroller
	want   string // token to select once the next load lands

	mode profileMode
	dialogs
	secret *secretView
}

// secretView shows a plaintext token once. Leaving it zeroes the field, so no
// later frame can draw it: the only copy left is the one the person took.
type secretView struct {
	title  string
	secret string
	copied bool
	asking bool // "hide it for good?" is showing
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

// Concerns: only changes that name me (my tokens, my role, my keys).
func (p *profilePage) Concerns(ev store.Event) bool {
	return slices.Contains(ev.UserIDs, p.env.actor.UserID)
}

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

func (p *profilePage) SetSize(w, h int) bool {
	p.w, p.h = w, h
	p.sc.setHeight(tableRows(h, p.headerLines(), p.bottom()))
	p.resizeDialog(w)
	return false
}

func (p *profilePage) Capturing() bool { return p.mode != profList }

// HoldsSecret reports a secret on screen, for the "too small" note.
func (p *profilePage) HoldsSecret() bool { return p.mode == profSecret }

func (p *profilePage) selected() (store.TokenView, bool) {
	if p.sc.cursor < 0 || p.sc.cursor >= len(p.toks) {
		return store.TokenView{}, false
	}
	return p.toks[p.sc.cursor], true
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
		p.sc.setLen(len(p.toks))
		for i, t := range p.toks {
			if t.ID == sel.ID {
				p.sc.to(i)
			}
		}
		return p, nil

	case secretMsg:
		if msg.err != nil {
			if p.mode == profDialog {
				return p, p.fail(msg.err)
			}
			return p, flashErr(msg.err)
		}
		p.closeDialog()
		p.want = msg.id
		p.secret = &secretView{title: msg.title, secret: msg.secret}
		p.mode = profSecret
		return p, tea.Batch(p.Reload(), flash(msg.note))

	case profileDoneMsg:
		if msg.err != nil {
			return p, p.fail(msg.err)
		}
		p.closeDialog()
		p.mode = profList
		return p, tea.Batch(p.Reload(), flash(msg.note))

	case copiedMsg:
		if p.secret != nil {
			p.secret.copied = true
		}
		return p, nil

	case tea.KeyMsg:
		return p, p.handleKey(msg)
	}
	if p.mode == profDialog {
		_, cmd := p.updateDialog(msg)
		return p, cmd
	}
	return p, nil
}

// holds reports whether I may hold tokens at all (stakeholders may not).
func (p *profilePage) holds() bool { return p.env.may(models.ActTokenCreateOwn, p.self()) }

func (p *profilePage) self() *models.Subject {
	s := p.me.Subject()
	return &s
}

// usable counts my tokens that count towards the 25-token limit.
func (p *profilePage) usable() int {
	n := 0
	for _, t := range p.toks {
		// A rotated token's old secret works until its grace ends, and the
		// store counts it toward the limit (store.liveTokens) by the same rule.
		if t.UsableAt(p.now) {
			n++
		}
	}
	return n
}

// can reports whether key k acts on the selected token right now: the
// permission rules allow it and the token's status makes sense for it.
// Help shows exactly these keys, and a key that cannot act does nothing.
func (p *profilePage) can(k key.Binding) bool {
	t, ok := p.selected()
	switch {
	case sameKey(k, p.keys.New):
		return p.holds()
	case !ok:
		return false
	case sameKey(k, p.keys.Reveal):
		return t.Status == models.StatusAwaitingReveal && p.env.may(models.ActTokenReveal, p.self())
	case sameKey(k, p.keys.Rotate):
		return t.Status == models.StatusActive && p.env.may(models.ActTokenRotateOwn, p.self())
	case sameKey(k, p.keys.Revoke):
		return t.Status.Usable() && p.env.may(models.ActTokenRevokeOwn, p.self())
	case sameKey(k, p.keys.Rename):
		_, renamer := p.env.be.(tokenRenamer)
		return renamer && t.Status.Usable() && p.env.may(models.ActTokenRenameOwn, p.self())
	}
	return false
}

func (p *profilePage) handleKey(msg tea.KeyMsg) tea.Cmd {
	switch p.mode {
	case profSecret:
		return p.secretKey(msg)
	case profDialog:
		closed, cmd := p.updateDialog(msg)
		if closed && p.cur == nil {
			p.mode = profList
		}
		return cmd
	}
	if p.list.handleListKey(msg, &p.sc) {
		return nil
	}
	for _, k := range []key.Binding{p.keys.New, p.keys.Reveal, p.keys.Rotate, p.keys.Revoke, p.keys.Rename} {
		if key.Matches(msg, k) && !p.can(k) {
			return nil
		}
	}
	if k, ok := p.pendingKey(); ok && (key.Matches(msg, p.keys.Approve) || key.Matches(msg, p.keys.Decline)) {
		added := "Someone else registered this " + clean(k.Type) + " key for you on " + k.AddedAt.UTC().Format("2006-01-02") + "."
		title, rest, act := "Approve SSH key "+k.Fingerprint+"?",
			" Once approved it logs in as you and can reveal and rotate your tokens. Approve it only if it is yours; if it is not, answer n and press d to remove it.",
			p.approveKey
		if key.Matches(msg, p.keys.Decline) {
			title, rest, act = "Remove SSH key "+k.Fingerprint+"?",
				" It waits for your approval. Removed, it never logs in; whoever added it can ask you again.",
				p.declineKey
		}
		p.mode = profDialog
		p.openConfirm(newConfirm(title, []string{added + rest}, func() tea.Cmd { return act(k) }), p.w, nil)
		return nil
	}
	t, _ := p.selected()
	switch {
	case key.Matches(msg, p.keys.New):
		if n := p.usable(); n >= models.MaxTokensActive {
			return flashErr(fmt.Errorf("you hold %d usable tokens, the most allowed; revoke one first", n))
		}
		var name, exp string
		f := newFormDialog(p.env.st, "Generate new token", func() []huh.Field {
			return []huh.Field{
				nameField("Name", "What will use it (1–64 characters)", "ci deploy", &name),
				expiryField(&exp),
			}
		}, func() tea.Cmd { return p.generate(name, exp) })
		p.mode = profDialog
		return p.openForm(f, p.w, nil)
	case key.Matches(msg, p.keys.Reveal):
		p.mode = profDialog
		p.openConfirm(newConfirm("Reveal "+quote(t.Name)+" now?", []string{
			"The secret is shown once, right here; keydesk keeps no readable copy. Have somewhere safe to put it before you say yes.",
		}, func() tea.Cmd { return p.reveal(t) }), p.w, nil)
	case key.Matches(msg, p.keys.Rotate):
		// The old secret keeps working through the grace period, so a
		// rotation needs room for one more token (the store refuses it too;
		// its longer reason would not fit the status line).
		if n := p.usable(); n >= models.MaxTokensActive {
			return flashErr(fmt.Errorf("at %d usable tokens a rotation needs one more slot: revoke another first", n))
		}
		grace := p.grace()
		p.mode = profDialog
		p.openConfirm(newConfirm("Rotate token "+quote(t.Name)+"?", []string{
			"A new secret replaces " + clean(t.Masked) + ". The old one keeps working for " + graceText(grace) +
				" (until " + clock(p.now.Add(grace)) + ") so you can switch your apps over; after that it is rejected.",
		}, func() tea.Cmd { return p.rotate(t) }), p.w, nil)
	case key.Matches(msg, p.keys.Revoke):
		p.mode = profDialog
		p.openConfirm(newConfirm("Revoke your token "+quote(t.Name)+"?", []string{
			"Anything using " + clean(t.Masked) + " stops working at once, including access tokens made from it. This cannot be undone.",
		}, func() tea.Cmd { return p.revoke(t) }), p.w, nil)
	case key.Matches(msg, p.keys.Rename):
		name := t.Name
		f := newFormDialog(p.env.st, "Rename token "+quote(t.Name), func() []huh.Field {
			return []huh.Field{nameField("Name", "The secret stays the same", "ci deploy", &name)}
		}, func() tea.Cmd {
			return renameToken(p.env, t, name, func(note string, err error) tea.Msg { return profileDoneMsg{note: note, err: err} })
		})
		p.mode = profDialog
		return p.openForm(f, p.w, nil)
	}
	return nil
}

// secretKey handles keys while a secret shows. Neither enter nor esc hides
// it at once: both ask, since after that it is gone for good.
func (p *profilePage) secretKey(msg tea.KeyMsg) tea.Cmd {
	s := p.secret
	if s.asking {
		switch msg.String() {
		case "y", "Y":
			p.forgetSecret()
		case "n", "N", "esc":
			s.asking = false
		}
		return nil
	}
	switch {
	case key.Matches(msg, p.keys.Copy):
		return copySecret(p.env, s.secret)
	case key.Matches(msg, p.keys.Done):
		s.asking = true
	}
	return nil
}

// forgetSecret drops the plaintext from the model as the view closes.
func (p *profilePage) forgetSecret() {
	if p.secret != nil {
		p.secret.secret = ""
		p.secret = nil
	}
	p.mode = profList
}

// grace is how long a rotated secret keeps working.
func (p *profilePage) grace() time.Duration {
	if g, ok := p.env.be.(interface{ RotationGrace() time.Duration }); ok {
		return g.RotationGrace()
	}
	return defaultGrace
}

func graceText(d time.Duration) string { return models.FormatGrace(d) }

// clock is a time of day, for moments within the next hours.
func clock(t time.Time) string { return t.Local().Format("15:04") }

func quote(s string) string { return "\u201c" + clean(s) + "\u201d" }

func (p *profilePage) generate(name, exp string) tea.Cmd {
	be, a := p.env.be, p.env.actor
	return func() tea.Msg {
		d, err := models.ParseExpiry(exp)
		if err != nil {
			return secretMsg{err: err}
		}
		tok, secret, err := be.CreateToken(a, store.TokenSpec{Name: name, Expires: d})
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

// tokenRenamer is a backend that can rename a token (the store can).
type tokenRenamer interface {
	RenameToken(a store.Actor, id, name string) (models.Token, error)
}

// renameToken renames t; done makes the page's result message.
func renameToken(e *env, t store.TokenView, name string, done func(string, error) tea.Msg) tea.Cmd {
	be, a := e.be, e.actor
	return func() tea.Msg {
		r, ok := be.(tokenRenamer)
		if !ok {
			return done("", errors.New("this backend cannot rename tokens"))
		}
		tok, err := r.RenameToken(a, t.ID, name)
		if err != nil {
			return done("", err)
		}
		return done("Renamed "+quote(t.Name)+" to "+quote(tok.Name), nil)
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
	pending := 0
	for _, k := range p.me.Keys {
		if k.Pending {
			pending++
		}
	}
	if _, ok := p.pendingKey(); ok {
		keys += fmt.Sprintf(" · %d waiting for you (a/d)", pending)
	}
	w := max(p.w-4, 0)
	name := clip(clean(p.me.Name), w/2)
	return []string{
		"",
		"  " + st.Title.Render(name) + st.Subtle.Render(clip("  "+clean(p.me.Email)+" · "+p.me.Role.Title()+" · "+keys, max(w-models.CellWidth(name), 0))),
		"",
		"  " + st.Section.Render("API Refresh Tokens") + st.Subtle.Render(clip(" · your scripts trade one for short-lived access tokens", max(w-18, 0))),
	}
}

// bottom is what the list draws below the table.
func (p *profilePage) bottom() []string {
	return []string{"", p.detail(), "  " + p.env.st.Subtle.Render(p.sc.position("token", "tokens"))}
}

func (p *profilePage) View() string {
	st := p.env.st
	if !p.loaded {
		if p.err != "" {
			return "\n  " + st.Error.Render(clip(p.err, p.w-4))
		}
		return "\n  " + st.Subtle.Render("Loading…")
	}
	lines := p.headerLines()
	switch {
	case p.mode == profSecret:
		lines = append(lines, "", p.secretView())
	case p.mode == profDialog:
		// The dialog comes first: at 80×23 with the banner up, header and
		// form together are taller than the page, and the form's bottom
		// (its border, its key hints) would be cut. Drop the header then,
		// as API Tokens and Users always do.
		d := p.dialogView(st, p.w)
		if len(lines)+1+lipgloss.Height(d) > p.h {
			return "\n" + d
		}
		lines = append(lines, "", d)
	case !p.holds():
		lines = append(lines, "", "  "+st.Empty.Render("Stakeholders hold no API tokens; ask an admin if you need one."))
	case len(p.toks) == 0:
		lines = append(lines, "", "  "+st.Empty.Render("No tokens yet — press n to generate one."))
	default:
		lines = append(append(lines, p.table()), p.bottom()...)
	}
	return strings.Join(lines, "\n")
}

// expiresText is the EXPIRES cell: only a token that can still be used
// expires; a rotated one in its grace period says when that ends.
func expiresText(t store.TokenView, now time.Time) string {
	switch t.Status {
	case models.StatusActive, models.StatusAwaitingReveal:
		return until(t.ExpiresAt, now)
	case models.StatusRotated:
		if now.Before(t.GraceUntil) {
			return "grace " + strings.TrimPrefix(until(t.GraceUntil, now), "in ")
		}
	case models.StatusExpired:
		return day(t.ExpiresAt)
	}
	return "—"
}

func (p *profilePage) table() string {
	st := p.env.st
	// Last use gets a column when there is room; the detail line always has it.
	wide := p.w >= 100
	mins, weights := []int{12, 17, 26, 10}, []int{2, 0, 1, 0} // EXPIRES fits a date: an expired token shows the day
	titles := []string{"NAME", "STATUS", "CREATED ↓", "EXPIRES"}
	if wide {
		mins, weights, titles = append(mins, 10), append(weights, 1), append(titles, "LAST USED")
	}
	cols := layoutColumns(p.w-3, mins, weights, titles)
	return renderTable(st, cols, func(i int) []cell {
		t := p.toks[i]
		row := []cell{
			{text: clean(t.Name)},
			{text: statusLabel(t.Status), style: statusStyle(st, t.Status)},
			{text: p.createdText(t)},
			{text: expiresText(t, p.now)},
		}
		if wide {
			row = append(row, cell{text: ago(t.LastUsedAt, p.now)})
		}
		return row
	}, p.sc)
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

// revokedText says when and by whom a token was revoked.
func revokedText(t store.TokenView, me string) string {
	by := ""
	switch {
	case t.RevokedBy == me:
		by = " by you"
	case t.RevokerName != "":
		by = " by " + clean(t.RevokerName)
	case t.RevokedBy != "":
		by = " by someone else"
	default:
		by = " by keydesk: a rotated secret of it was used after its grace period (reuse)"
	}
	return "revoked on " + day(t.RevokedAt) + by
}

// detail spells out the selected token with what can be done next.
func (p *profilePage) detail() string {
	st := p.env.st
	t, ok := p.selected()
	if !ok {
		return "\n"
	}
	first := quote(t.Name) + " " + clean(t.Masked) + " · " + p.createdText(t) + " · " + clean(t.ID)
	var next string
	switch t.Status {
	case models.StatusAwaitingReveal:
		next = st.Warn.Render(clip("● Awaiting reveal — press v to see the secret (shown once).", p.w-4))
	case models.StatusActive:
		used := "never used"
		if !t.LastUsedAt.IsZero() {
			used = "last used " + ago(t.LastUsedAt, p.now) + " from " + clean(t.LastUsedBy)
		}
		next = st.Subtle.Render(clip(used+" · r rotate · x revoke", p.w-4))
	case models.StatusRotated:
		s := "rotated on " + day(t.RotatedAt)
		if p.now.Before(t.GraceUntil) {
			s += "; the old secret works until " + clock(t.GraceUntil)
		}
		next = st.Subtle.Render(clip(s+"; replaced by "+clean(t.RotatedTo), p.w-4))
	case models.StatusRevoked:
		next = st.Subtle.Render(clip(revokedText(t, p.me.ID), p.w-4))
	case models.StatusExpired:
		next = st.Subtle.Render(clip("expired on "+day(t.ExpiresAt)+" — press n to generate a new one", p.w-4))
	}
	return "  " + st.Subtle.Render(clip(first, max(p.w-4, 0))) + "\n  " + next
}

func (p *profilePage) secretView() string {
	st := p.env.st
	s := p.secret
	lines := []string{
		st.Title.Render(clip(s.title, dialogWidth(p.w))),
		"",
		"  " + st.Secret.Render(s.secret),
		"",
		st.Warn.Render("⚠ Please keep your Refresh Token as safe as your Password."),
		st.Subtle.Render("  It is shown only this once; keydesk keeps no readable copy."),
		"",
	}
	switch {
	case s.asking:
		lines = append(lines, st.Warn.Render("Hide it for good? It cannot be shown again. ")+st.Key.Render("y")+st.Subtle.Render(" hide   ")+st.Key.Render("n")+st.Subtle.Render(" keep it here"))
	case s.copied:
		lines = append(lines, st.OK.Render("✓ Copied to your clipboard (OSC 52). ")+st.Key.Render("enter")+st.Subtle.Render(" done"))
	default:
		lines = append(lines, st.Key.Render("c")+st.Subtle.Render(" copy to clipboard   ")+st.Key.Render("enter")+st.Subtle.Render(" done"))
	}
	return indent(st.Dialog.Render(strings.Join(lines, "\n")), 2)
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

func (p *profilePage) ShortHelp() []key.Binding {
	switch p.mode {
	case profSecret:
		if p.secret.asking {
			return []key.Binding{key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "hide for good")), key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "keep showing"))}
		}
		return []key.Binding{p.keys.Copy, p.keys.Done}
	case profDialog:
		return p.dialogHelp()
	}
	var ks []key.Binding
	for _, k := range []key.Binding{p.keys.New, p.keys.Reveal, p.keys.Rotate, p.keys.Revoke} {
		if p.can(k) {
			ks = append(ks, k)
		}
	}
	if _, ok := p.pendingKey(); ok {
		ks = append(ks, p.keys.Approve, p.keys.Decline)
	}
	return ks
}

func (p *profilePage) FullHelp() [][]key.Binding {
	if p.Capturing() {
		return [][]key.Binding{p.ShortHelp()}
	}
	var nav []key.Binding
	if len(p.toks) > 1 {
		nav = []key.Binding{p.list.Up, p.list.Down, p.list.Top, p.list.Bottom}
	}
	var acts []key.Binding
	for _, k := range []key.Binding{p.keys.New, p.keys.Reveal, p.keys.Rotate, p.keys.Revoke, p.keys.Rename} {
		if p.can(k) {
			acts = append(acts, k)
		}
	}
	if _, ok := p.pendingKey(); ok {
		acts = append(acts, p.keys.Approve, p.keys.Decline)
	}
	return [][]key.Binding{nav, acts}
}

// Click selects the token row at y (rows of the page area).
func (p *profilePage) Click(y int) tea.Cmd {
	if p.mode != profList {
		return nil
	}
	p.sc.click(y, lineCount(p.headerLines()))
	return nil
}

// sameKey reports whether two bindings are the same key (by their keys).
func sameKey(a, b key.Binding) bool { return slices.Equal(a.Keys(), b.Keys()) }
