package tui

import (
	"fmt"
	"reflect"
	"strings"
	"unsafe"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/huh"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/keydesk/keydesk/models"
)

// dialogKeys are the keys of confirmations and forms.
type dialogKeys struct {
	Yes, No, Submit, Back, NextField, PrevField, Choose key.Binding
}

func newDialogKeys() dialogKeys {
	return dialogKeys{
		Yes:       key.NewBinding(key.WithKeys("y", "Y"), key.WithHelp("y", "yes")),
		No:        key.NewBinding(key.WithKeys("n", "N", "esc"), key.WithHelp("n/esc", "no, go back")),
		Submit:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "next/submit")),
		Back:      key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		NextField: key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next field")),
		PrevField: key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "prev field")),
		Choose:    key.NewBinding(key.WithKeys("left", "right"), key.WithHelp("←/→", "choose")),
	}
}

// confirmDialog asks before something that cannot be undone. With typed set,
// the person must type that text (an email) instead of pressing y, which is
// how GitHub guards "delete repository": a reflex keypress cannot do it.
type confirmDialog struct {
	title string
	body  []string
	typed string
	input textinput.Model
	keys  dialogKeys
	onYes func() tea.Cmd
	err   string
}

func newConfirm(title string, body []string, onYes func() tea.Cmd) *confirmDialog {
	return &confirmDialog{title: title, body: body, keys: newDialogKeys(), onYes: onYes}
}

func newTypedConfirm(st Styles, title string, body []string, typed string, onYes func() tea.Cmd) *confirmDialog {
	d := newConfirm(title, body, onYes)
	d.typed = typed
	d.input = newInput(st, "› ", "", models.MaxEmailLen)
	d.input.Focus()
	return d
}

// update handles a key; done reports that the dialog closed (answered or
// cancelled), yes that it was answered yes.
func (d *confirmDialog) update(msg tea.KeyMsg) (done bool, cmd tea.Cmd) {
	if d.typed != "" {
		switch {
		case key.Matches(msg, d.keys.Back):
			return true, nil
		case key.Matches(msg, d.keys.Submit):
			if strings.TrimSpace(d.input.Value()) != d.typed {
				d.err = "That does not match; type it exactly, or press esc to go back."
				return false, nil
			}
			return true, d.onYes()
		}
		d.input, cmd = d.input.Update(msg)
		sanitizeInput(&d.input)
		d.err = ""
		return false, cmd
	}
	switch {
	case key.Matches(msg, d.keys.Yes):
		return true, d.onYes()
	case key.Matches(msg, d.keys.No):
		return true, nil
	}
	return false, nil
}

// setWidth fits the dialog's input to the room it has.
func (d *confirmDialog) setWidth(width int) {
	if d.typed != "" {
		d.input.Width = max(dialogWidth(width)-lipgloss.Width(d.input.Prompt)-1, 8)
	}
}

func (d *confirmDialog) view(st Styles, width int) string {
	w := dialogWidth(width)
	lines := []string{st.Title.Render(fit(clean(d.title), w)), ""}
	for _, l := range d.body {
		lines = append(lines, st.Row.Width(w).Render(clean(l)))
	}
	lines = append(lines, "")
	if d.typed != "" {
		lines = append(lines, fit("Type "+clean(d.typed)+" to confirm:", w), d.input.View())
		if d.err != "" {
			lines = append(lines, st.Error.Width(w).Render(d.err))
		}
	} else {
		lines = append(lines, st.Key.Render("y")+st.Subtle.Render(" yes   ")+st.Key.Render("n")+st.Subtle.Render(" no, go back"))
	}
	return st.Dialog.Width(w + 2).Render(strings.Join(lines, "\n"))
}

func (d *confirmDialog) helpKeys() []key.Binding {
	if d.typed != "" {
		return []key.Binding{key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "confirm")), d.keys.Back}
	}
	return []key.Binding{d.keys.Yes, d.keys.No}
}

// dialogWidth is the text width of a dialog on a screen width wide.
func dialogWidth(width int) int { return max(min(width-8, 72), 20) }

// sanitizeInput strips anything unsafe a paste put into a text field, so the
// field's own View never echoes escape sequences or invisible characters.
func sanitizeInput(ti *textinput.Model) {
	if v := ti.Value(); models.HasUnsafe(v) || strings.ContainsAny(v, "\n\r") {
		ti.SetValue(models.SanitizeLine(v))
	}
}

// newInput is a text field drawn with the session's styles (a bubbles
// textinput's defaults come from lipgloss's global renderer, which over SSH
// is the server's terminal, not the person's) and with a steady cursor: a
// blinking one redraws the screen twice a second, which over SSH is traffic
// and wakeups for every idle session, and makes frames differ from one
// moment to the next. Give it a Width to scroll sideways.
func newInput(st Styles, prompt, placeholder string, limit int) textinput.Model {
	ti := textinput.New()
	styleInput(&ti, st)
	ti.Prompt = prompt
	if placeholder != "" {
		ti.Placeholder = "e.g. " + placeholder
	}
	ti.CharLimit = limit
	return ti
}

func styleInput(ti *textinput.Model, st Styles) {
	ti.Cursor.SetMode(cursor.CursorStatic)
	ti.Cursor.Style = st.Cursor
	ti.Cursor.TextStyle = st.InputText
	ti.PromptStyle = st.Prompt
	ti.TextStyle = st.InputText
	ti.PlaceholderStyle = st.Placeholder
	ti.CompletionStyle = st.Subtle
}

// formDialog is a huh form inside a page. Its values live in variables the
// page's builder bound; the form is rebuilt from them when the store refuses
// the submission, so a typo in an email does not cost the whole form.
type formDialog struct {
	title  string
	build  func() []huh.Field
	submit func() tea.Cmd
	form   *huh.Form
	st     Styles
	width  int
	err    string
	busy   bool
	// cut is set when typed or pasted text did not fit the focused field:
	// only then does the dialog say the rest was cut (a name already at
	// the limit, as a rename starts, lost nothing).
	cut bool
}

// newFormDialog makes a form; call open to show it.
func newFormDialog(st Styles, title string, build func() []huh.Field, submit func() tea.Cmd) *formDialog {
	return &formDialog{title: title, build: build, submit: submit, st: st}
}

// open (re)builds the huh form and returns its first commands.
func (f *formDialog) open(width int) tea.Cmd {
	f.width = width
	f.form = NewForm(f.st, dialogWidth(width), f.build()...)
	return f.form.Init()
}

// FormView is a huh form's view without the blank lines huh pads its group
// with (room for errors it draws below anyway), which cost rows at 80×23.
// Fields are separated by a newline only, so no blank line is meant.
func FormView(f *huh.Form) string {
	var out []string
	for _, l := range strings.Split(f.View(), "\n") {
		if strings.TrimSpace(ansi.Strip(l)) != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// NewForm is a huh form drawn the console's way: styles from st's
// renderer (never lipgloss's global one), steady cursors, esc and ctrl+c
// left to the caller, help and errors inside, width cells wide. The
// first-run form uses it too, so both look alike.
func NewForm(st Styles, width int, fields ...huh.Field) *huh.Form {
	for _, fl := range fields {
		steadyCursor(fl)
	}
	f := huh.NewForm(huh.NewGroup(fields...)).
		WithTheme(huhTheme(st)).
		WithKeyMap(huhKeys()).
		WithShowHelp(false).
		WithShowErrors(true).
		WithWidth(width)
	f.SubmitCmd, f.CancelCmd = nil, nil
	return f
}

// setWidth resizes the form; huh fields take their width when built.
func (f *formDialog) setWidth(width int) {
	if f.form != nil && width != f.width {
		f.width = width
		f.form = f.form.WithWidth(dialogWidth(width))
	}
}

// update handles a message for the form; when huh completes it, the page's
// submit runs and the form waits (busy) for the store's answer.
func (f *formDialog) update(msg tea.Msg) tea.Cmd {
	if f.busy || f.form == nil {
		return nil
	}
	if _, ok := msg.(cursor.BlinkMsg); ok {
		return nil
	}
	k, isKey := msg.(tea.KeyMsg)
	before := -1
	if isKey {
		f.err = ""
		if ti := inputOf(f.form.GetFocusedField()); ti != nil && k.Type == tea.KeyRunes {
			before = len([]rune(ti.Value()))
		}
	}
	m, cmd := f.form.Update(msg)
	f.form = m.(*huh.Form)
	if ti := inputOf(f.form.GetFocusedField()); ti != nil && ti.CharLimit > 0 {
		after := len([]rune(ti.Value()))
		switch {
		case after < ti.CharLimit:
			f.cut = false
		case before >= 0 && before+len(k.Runes) > after:
			f.cut = true
		}
	}
	if f.form.State == huh.StateCompleted {
		f.busy = true
		return f.submit()
	}
	return cmd
}

// failed reopens the form for editing with the store's complaint.
func (f *formDialog) failed(err error) tea.Cmd {
	f.busy, f.err = false, errText(err)
	return f.open(f.width)
}

func (f *formDialog) view(st Styles, width int) string {
	w := dialogWidth(width)
	lines := []string{st.Title.Render(fit(f.title, w))}
	if f.form != nil {
		lines = append(lines, FormView(f.form))
	}
	lines = append(lines, "")
	switch {
	case f.busy:
		lines = append(lines, st.Subtle.Render("Saving…"))
	case f.cut && limitNote(f.form) != "":
		lines = append(lines, st.Warn.Render(limitNote(f.form)))
	case f.err != "":
		lines = append(lines, st.Error.Width(w).Render("✗ "+f.err))
	default:
		lines = append(lines, st.Subtle.Render(fit("enter next · shift+tab back a field · esc back", w)))
	}
	return st.Dialog.Width(w + 2).Render(strings.Join(lines, "\n"))
}

func (f *formDialog) helpKeys() []key.Binding {
	k := newDialogKeys()
	return []key.Binding{k.Submit, k.PrevField, k.Choose, k.Back}
}

// huhKeys is huh's key map with the two keys the console owns taken out:
// esc goes back a step (the page handles it) and ctrl+c quits the console.
func huhKeys() *huh.KeyMap {
	km := huh.NewDefaultKeyMap()
	km.Quit = key.NewBinding(key.WithDisabled())
	km.Select.Filter.SetEnabled(false)
	km.Select.Left = key.NewBinding(key.WithKeys("left"), key.WithHelp("←", "previous"))
	km.Select.Right = key.NewBinding(key.WithKeys("right"), key.WithHelp("→", "next"))
	return km
}

// steadyCursor makes a huh input's cursor static, for the reasons newInput
// gives. huh v1.0.0 keeps its textinput unexported and offers no option, so
// this reaches it by reflection; TestFormCursorIsSteady fails if a huh
// upgrade renames the field.
func steadyCursor(f huh.Field) {
	if ti := inputOf(f); ti != nil {
		ti.Cursor.SetMode(cursor.CursorStatic)
	}
}

// inputOf is the bubbles textinput inside a huh input field, or nil.
func inputOf(f huh.Field) *textinput.Model {
	v := reflect.ValueOf(f)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	fv := v.Elem().FieldByName("textinput")
	if !fv.IsValid() || fv.Type() != reflect.TypeOf(textinput.Model{}) {
		return nil
	}
	return (*textinput.Model)(unsafe.Pointer(fv.UnsafeAddr()))
}

// limitNote says so when the focused field is full; the dialog shows it
// after a paste or typing that went past the limit (formDialog.cut), so the
// person knows the rest was cut.
func limitNote(form *huh.Form) string {
	ti := inputOf(form.GetFocusedField())
	if ti == nil || ti.CharLimit <= 0 || len([]rune(ti.Value())) < ti.CharLimit {
		return ""
	}
	return fmt.Sprintf("At most %d characters: the rest was cut", ti.CharLimit)
}

// huhTheme is a huh theme built entirely on the session's renderer. huh's
// own themes use lipgloss's global renderer, which over SSH describes the
// server's terminal: every style here comes from st's renderer instead.
func huhTheme(st Styles) *huh.Theme {
	r := st.Renderer()
	s := r.NewStyle
	var t huh.Theme
	t.Form.Base = s()
	t.Group.Base = s()
	t.Group.Title = st.Title
	t.Group.Description = st.Subtle
	t.FieldSeparator = s().SetString("\n")
	focused := huh.FieldStyles{
		Base:           s().PaddingLeft(1).Border(lipgloss.ThickBorder(), false, false, false, true).BorderForeground(st.Key.GetForeground()),
		Title:          st.Bold,
		Description:    st.Subtle,
		ErrorIndicator: st.Error.SetString(" ✗"),
		ErrorMessage:   st.Error,
		SelectSelector: st.Key.SetString("› "),
		Option:         st.Row,
		NextIndicator:  st.Key.MarginLeft(1).SetString("→"),
		PrevIndicator:  st.Key.MarginRight(1).SetString("←"),
		Directory:      st.Key,
		File:           st.Row,

		MultiSelectSelector: st.Key.SetString("› "),
		SelectedOption:      st.Bold.Underline(true),
		SelectedPrefix:      st.OK.SetString("[x] "),
		UnselectedOption:    st.Row,
		UnselectedPrefix:    st.Subtle.SetString("[ ] "),
		TextInput: huh.TextInputStyles{
			Cursor:      st.Cursor,
			CursorText:  st.InputText,
			Placeholder: st.Placeholder,
			Prompt:      st.Prompt,
			Text:        st.InputText,
		},
		FocusedButton: st.RowSel.Padding(0, 2).MarginRight(1),
		BlurredButton: st.Subtle.Padding(0, 2).MarginRight(1),
		Card:          s().PaddingLeft(1),
		NoteTitle:     st.Title.MarginBottom(1),
		Next:          st.RowSel.Padding(0, 2),
	}
	blurred := focused
	blurred.Base = s().PaddingLeft(1).Border(lipgloss.HiddenBorder(), false, false, false, true)
	blurred.Title = st.Subtle
	blurred.SelectSelector = s().SetString("  ")
	blurred.MultiSelectSelector = s().SetString("  ")
	blurred.NextIndicator = s()
	blurred.PrevIndicator = s()
	blurred.TextInput.Prompt = st.Subtle
	blurred.Card = blurred.Base
	t.Focused, t.Blurred = focused, blurred
	t.Help = help.Styles{
		Ellipsis: st.HelpSep, ShortKey: st.HelpKey, ShortDesc: st.HelpDesc, ShortSeparator: st.HelpSep,
		FullKey: st.HelpKey, FullDesc: st.HelpDesc, FullSeparator: st.HelpSep,
	}
	return &t
}

// nameValidator checks a name field with the store's own rule.
func nameValidator(what string) func(string) error {
	return func(s string) error {
		_, err := models.ValidateName(what, s)
		return err
	}
}

// expiryChoices are the lifetimes offered when generating or assigning a
// token: models.Expiries, the same five every door accepts; "never" is last
// and the default, as in the original product.
var expiryChoices = models.Expiries

func expiryField(v *string) huh.Field {
	if *v == "" {
		*v = "never"
	}
	opts := make([]huh.Option[string], len(expiryChoices))
	for i, c := range expiryChoices {
		opts[i] = huh.NewOption(c, c)
	}
	return huh.NewSelect[string]().Title("Expires").Value(v).Options(opts...).Inline(true).
		Description("←/→ to choose")
}

// nameField is a token or person name with inline validation: an empty or
// unprintable name is refused before anything is sent.
func nameField(title, desc, example string, v *string) huh.Field {
	return huh.NewInput().Title(title).Description(desc).Placeholder("e.g. " + example).
		CharLimit(models.MaxNameLen).Value(v).Validate(nameValidator(strings.ToLower(title)))
}

// dialog is a form or a confirmation shown over a page.
type dialog interface {
	// update handles a message; done reports that the dialog closed by
	// itself (answered, or esc/n pressed: gone back).
	update(msg tea.Msg) (done bool, cmd tea.Cmd)
	view(st Styles, width int) string
	helpKeys() []key.Binding
	setWidth(width int)
}

func (d *confirmDialog) updateMsg(msg tea.Msg) (bool, tea.Cmd) {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return false, nil
	}
	return d.update(k)
}

type confirmAdapter struct{ *confirmDialog }

func (c confirmAdapter) update(msg tea.Msg) (bool, tea.Cmd) { return c.updateMsg(msg) }

type formAdapter struct{ *formDialog }

func (f formAdapter) update(msg tea.Msg) (bool, tea.Cmd) {
	if k, ok := msg.(tea.KeyMsg); ok && k.String() == "esc" && !f.busy {
		return true, nil
	}
	return false, f.formDialog.update(msg)
}

// dialogs is the one dialog a page may show over its content. Pages embed
// it, so key dispatch, drawing, help and error display for their dialogs are
// written once; whether one is open is the page's mode, not a nil check.
type dialogs struct {
	cur dialog
	// back, when set, is where esc or "no" returns to (one step back in a
	// multi-step flow) instead of to the page.
	back func() tea.Cmd
}

// openForm shows f; back (may be nil) is the step esc returns to.
func (d *dialogs) openForm(f *formDialog, width int, back func() tea.Cmd) tea.Cmd {
	d.cur, d.back = formAdapter{f}, back
	return f.open(width)
}

// openConfirm shows c; back (may be nil) is the step n or esc returns to.
func (d *dialogs) openConfirm(c *confirmDialog, width int, back func() tea.Cmd) {
	d.cur, d.back = confirmAdapter{c}, back
	c.setWidth(width)
}

// updateDialog sends a message to the open dialog. When it closes, closed
// is true and cmd includes the step back, if any.
func (d *dialogs) updateDialog(msg tea.Msg) (closed bool, cmd tea.Cmd) {
	if d.cur == nil {
		return true, nil
	}
	cur := d.cur
	done, cmd := cur.update(msg)
	if !done {
		return false, cmd
	}
	if d.cur != cur { // the answer already opened the next step
		return false, cmd
	}
	d.cur = nil
	back := d.back
	d.back = nil
	if cmd == nil && back != nil {
		return true, back()
	}
	return true, cmd
}

// formOpen reports whether a form (not a confirmation) is showing.
func (d *dialogs) formOpen() *formDialog {
	if f, ok := d.cur.(formAdapter); ok {
		return f.formDialog
	}
	return nil
}

// closeDialog closes the dialog without going back.
func (d *dialogs) closeDialog() { d.cur, d.back = nil, nil }

func (d *dialogs) resizeDialog(width int) {
	if d.cur != nil {
		d.cur.setWidth(width)
	}
}

// dialogView draws the open dialog, indented like page content.
func (d *dialogs) dialogView(st Styles, width int) string {
	if d.cur == nil {
		return ""
	}
	return indent(d.cur.view(st, width), 2)
}

func (d *dialogs) dialogHelp() []key.Binding {
	if d.cur == nil {
		return nil
	}
	return d.cur.helpKeys()
}

// fail reports a store error: inside the open form, so the person can fix
// the input and retry, or else as a flash message.
func (d *dialogs) fail(err error) tea.Cmd {
	if f := d.formOpen(); f != nil {
		return f.failed(err)
	}
	return flashErr(err)
}

// liveInput is a one-line filter applied as you type: each keystroke
// schedules an apply after a short pause (debounced, so typing a word over a
// million tokens costs one store query, not one per letter); enter applies
// at once and keeps it, esc clears it. Every keystroke is sanitized.
type liveInput struct {
	input   textinput.Model
	applied string
	editing bool
	gen     int // bumps with every edit; a debounce tick for an older gen is stale
}

// edit focuses the input, starting from the applied value.
func (a *liveInput) edit() tea.Cmd {
	a.editing = true
	a.input.SetValue(a.applied)
	a.input.CursorEnd()
	return a.input.Focus()
}

// reset forgets the applied value.
func (a *liveInput) reset() {
	a.applied = ""
	a.input.SetValue("")
	a.gen++
}

// value is what the filter should be now.
func (a *liveInput) value() string { return strings.TrimSpace(a.input.Value()) }

// key handles a key while editing. changed reports that the value to apply
// differs from the applied one (apply it, now or after the debounce), done
// that editing ended.
func (a *liveInput) key(msg tea.KeyMsg, apply, cancel key.Binding) (changed, done bool, cmd tea.Cmd) {
	switch {
	case key.Matches(msg, apply):
		a.editing = false
		a.input.Blur()
		return a.value() != a.applied, true, nil
	case key.Matches(msg, cancel):
		a.editing = false
		a.input.Blur()
		a.input.SetValue("")
		return a.applied != "", true, nil
	}
	a.input, cmd = a.input.Update(msg)
	sanitizeInput(&a.input)
	return a.value() != a.applied, false, cmd
}

// commit makes the input's value the applied one.
func (a *liveInput) commit() { a.applied = a.value() }

// handle is key for a filter that goes to the store: a change schedules
// tick(gen) after the debounce; enter or esc with a change applies it at
// once (restart: reload from the first page). done: editing ended.
func (a *liveInput) handle(e *env, msg tea.KeyMsg, apply, cancel key.Binding, tick func(gen int) tea.Msg) (restart, done bool, cmd tea.Cmd) {
	changed, done, cmd := a.key(msg, apply, cancel)
	switch {
	case changed && done:
		a.commit()
		return true, true, cmd
	case changed:
		a.gen++
		return false, done, tea.Batch(cmd, e.debounced(tick(a.gen)))
	}
	return false, done, cmd
}

// debounceDue reports whether a debounce tick for gen should apply the
// filter now, and commits it if so.
func (a *liveInput) debounceDue(gen int) bool {
	if gen != a.gen || a.value() == a.applied {
		return false
	}
	a.commit()
	return true
}
