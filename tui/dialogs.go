package tui

import (
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/keydesk/keydesk/models"
)

// dialogKeys are the keys of confirmations and forms.
type dialogKeys struct {
	Yes, No, Submit, Cancel, NextField, PrevField, Left, Right key.Binding
}

func newDialogKeys() dialogKeys {
	return dialogKeys{
		Yes:       key.NewBinding(key.WithKeys("y", "Y"), key.WithHelp("y", "yes")),
		No:        key.NewBinding(key.WithKeys("n", "N", "esc"), key.WithHelp("n/esc", "no")),
		Submit:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "continue")),
		Cancel:    key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
		NextField: key.NewBinding(key.WithKeys("tab", "down"), key.WithHelp("tab/↓", "next field")),
		PrevField: key.NewBinding(key.WithKeys("shift+tab", "up"), key.WithHelp("shift+tab/↑", "prev field")),
		Left:      key.NewBinding(key.WithKeys("left"), key.WithHelp("←/→", "choose")),
		Right:     key.NewBinding(key.WithKeys("right")),
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

func newTypedConfirm(title string, body []string, typed string, onYes func() tea.Cmd) *confirmDialog {
	d := newConfirm(title, body, onYes)
	d.typed = typed
	d.input = newInput()
	d.input.Prompt = "› "
	d.input.CharLimit = models.MaxEmailLen
	d.input.Focus()
	return d
}

// update handles a key; done reports that the dialog closed (answered or cancelled).
func (d *confirmDialog) update(msg tea.KeyMsg) (done bool, cmd tea.Cmd) {
	if d.typed != "" {
		switch {
		case key.Matches(msg, d.keys.Cancel):
			return true, nil
		case key.Matches(msg, d.keys.Submit):
			if strings.TrimSpace(d.input.Value()) != d.typed {
				d.err = "That does not match; type it exactly, or press esc to cancel."
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

func (d *confirmDialog) view(st Styles, width int) string {
	w := min(width-4, 72)
	lines := []string{st.Title.Render(clean(d.title)), ""}
	for _, l := range d.body {
		lines = append(lines, st.Row.Width(w).Render(clean(l)))
	}
	lines = append(lines, "")
	if d.typed != "" {
		lines = append(lines, "Type "+st.Bold.Render(clean(d.typed))+" to confirm:", d.input.View())
		if d.err != "" {
			lines = append(lines, st.Error.Render(d.err))
		}
	} else {
		lines = append(lines, st.Key.Render("y")+st.Subtle.Render(" yes   ")+st.Key.Render("n")+st.Subtle.Render(" no"))
	}
	return st.Dialog.Width(w + 2).Render(strings.Join(lines, "\n"))
}

func (d *confirmDialog) helpKeys() []key.Binding {
	if d.typed != "" {
		return []key.Binding{d.keys.Submit, d.keys.Cancel}
	}
	return []key.Binding{d.keys.Yes, d.keys.No}
}

// sanitizeInput strips anything unsafe a paste put into a text field, so the
// field's own View never echoes escape sequences or bidi overrides.
func sanitizeInput(ti *textinput.Model) {
	if v := ti.Value(); models.HasUnsafe(v) || strings.ContainsAny(v, "\n\r") {
		ti.SetValue(models.SanitizeLine(v))
	}
}

// field is one row of a form: a text input, or a choice among options.
type field struct {
	label   string
	hint    string
	input   textinput.Model
	choices []string
	choice  int
	// vertical draws the choices one per line, for long options such as keys.
	vertical bool
}

func textField(label, hint, placeholder string, limit int) field {
	ti := newInput()
	ti.Prompt = ""
	ti.Placeholder = placeholder
	ti.CharLimit = limit
	return field{label: label, hint: hint, input: ti}
}

func choiceField(label, hint string, choices []string, def int) field {
	return field{label: label, hint: hint, choices: choices, choice: def}
}

func (f field) value() string {
	if f.choices != nil {
		return f.choices[f.choice]
	}
	return strings.TrimSpace(f.input.Value())
}

// form collects a few values, then hands them to submit, which returns the
// store call to run. The form stays open until the page tells it the call
// succeeded, so a typo in an email does not cost the whole form.
type form struct {
	title  string
	fields []field
	focus  int
	keys   dialogKeys
	submit func(values []string) tea.Cmd
	err    string
	busy   bool
}

func newForm(title string, submit func(values []string) tea.Cmd, fields ...field) *form {
	f := &form{title: title, fields: fields, keys: newDialogKeys(), submit: submit}
	f.setFocus(0)
	return f
}

func (f *form) setFocus(i int) {
	f.focus = clamp(i, 0, len(f.fields)-1)
	for j := range f.fields {
		if f.fields[j].choices != nil {
			continue
		}
		if j == f.focus {
			f.fields[j].input.Focus()
		} else {
			f.fields[j].input.Blur()
		}
	}
}

// update handles a key; done reports that the form was cancelled.
func (f *form) update(msg tea.KeyMsg) (done bool, cmd tea.Cmd) {
	if f.busy {
		return false, nil
	}
	cur := &f.fields[f.focus]
	switch {
	case key.Matches(msg, f.keys.Cancel):
		return true, nil
	case key.Matches(msg, f.keys.Submit):
		if f.focus < len(f.fields)-1 {
			f.setFocus(f.focus + 1)
			return false, nil
		}
		vals := make([]string, len(f.fields))
		for i := range f.fields {
			vals[i] = f.fields[i].value()
		}
		f.busy, f.err = true, ""
		return false, f.submit(vals)
	case key.Matches(msg, f.keys.NextField):
		f.setFocus(f.focus + 1)
		return false, nil
	case key.Matches(msg, f.keys.PrevField):
		f.setFocus(f.focus - 1)
		return false, nil
	}
	if cur.choices != nil {
		switch {
		case key.Matches(msg, f.keys.Left):
			cur.choice = (cur.choice + len(cur.choices) - 1) % len(cur.choices)
		case key.Matches(msg, f.keys.Right), msg.String() == " ":
			cur.choice = (cur.choice + 1) % len(cur.choices)
		}
		return false, nil
	}
	cur.input, cmd = cur.input.Update(msg)
	sanitizeInput(&cur.input)
	return false, cmd
}

// failed reopens the form for editing with the store's complaint.
func (f *form) failed(err error) {
	f.busy, f.err = false, errText(err)
}

func (f *form) view(st Styles, width int) string {
	w := min(width-4, 72)
	lw := 0
	for _, fl := range f.fields {
		lw = max(lw, lipgloss.Width(fl.label))
	}
	lines := []string{st.Title.Render(f.title), ""}
	for i, fl := range f.fields {
		label := fit(fl.label, lw)
		mark := "  "
		if i == f.focus {
			mark = st.Key.Render("›") + " "
			label = st.Bold.Render(label)
		} else {
			label = st.Subtle.Render(label)
		}
		var val string
		if fl.choices != nil {
			opts := make([]string, len(fl.choices))
			for j, c := range fl.choices {
				if j == fl.choice {
					opts[j] = st.RowSel.Render("[" + c + "]")
				} else {
					opts[j] = st.Subtle.Render(" " + c + " ")
				}
			}
			if fl.vertical {
				val = strings.Join(opts, "\n"+strings.Repeat(" ", lw+4))
			} else {
				val = strings.Join(opts, "")
			}
		} else {
			fl.input.Width = max(w-lw-6, 8)
			val = fl.input.View()
		}
		lines = append(lines, mark+label+"  "+val)
		if fl.hint != "" && i == f.focus {
			lines = append(lines, strings.Repeat(" ", lw+4)+st.Subtle.Render(fl.hint))
		}
	}
	lines = append(lines, "")
	switch {
	case f.busy:
		lines = append(lines, st.Subtle.Render("Saving…"))
	case f.err != "":
		lines = append(lines, st.Error.Width(w).Render(f.err))
	default:
		lines = append(lines, st.Subtle.Render("enter next/submit · tab move · esc cancel"))
	}
	return st.Dialog.Width(w + 2).Render(strings.Join(lines, "\n"))
}

func (f *form) helpKeys() []key.Binding {
	return []key.Binding{f.keys.Submit, f.keys.NextField, f.keys.Left, f.keys.Cancel}
}

// expiryChoices are the lifetimes offered when generating or assigning a
// token; "never" is last and the default, as in the original product.
var expiryChoices = []string{"7d", "30d", "90d", "1y", "never"}

func expiryField() field {
	return choiceField("Expires", "←/→ to choose · default: never", expiryChoices, len(expiryChoices)-1)
}

// newInput is a text field with a steady cursor. A blinking one redraws the
// screen twice a second, which over SSH is traffic and wakeups for every idle
// session, and makes frames differ from one moment to the next.
func newInput() textinput.Model {
	ti := textinput.New()
	ti.Cursor.SetMode(cursor.CursorStatic)
	return ti
}

// dialogs is the one form or confirmation a page may show over its content.
// Pages embed it, so key dispatch, drawing, help and error display for their
// dialogs are written once.
type dialogs struct {
	form    *form
	confirm *confirmDialog
}

func (d *dialogs) dialogOpen() bool { return d.form != nil || d.confirm != nil }

// updateDialog sends a key to the open dialog and closes it when it is done.
func (d *dialogs) updateDialog(msg tea.KeyMsg) tea.Cmd {
	var done bool
	var cmd tea.Cmd
	switch {
	case d.form != nil:
		if done, cmd = d.form.update(msg); done {
			d.form = nil
		}
	case d.confirm != nil:
		if done, cmd = d.confirm.update(msg); done {
			d.confirm = nil
		}
	}
	return cmd
}

// dialogView draws the open dialog, indented like page content.
func (d *dialogs) dialogView(st Styles, width int) string {
	switch {
	case d.form != nil:
		return indent(d.form.view(st, width), 2)
	case d.confirm != nil:
		return indent(d.confirm.view(st, width), 2)
	}
	return ""
}

func (d *dialogs) dialogHelp() []key.Binding {
	switch {
	case d.form != nil:
		return d.form.helpKeys()
	case d.confirm != nil:
		return d.confirm.helpKeys()
	}
	return nil
}

// fail reports a store error: inside the open form, so the person can fix
// the input and retry, or else as a flash message.
func (d *dialogs) fail(err error) tea.Cmd {
	if d.form != nil {
		d.form.failed(err)
		return nil
	}
	return flashErr(err)
}

// appliedInput is a one-line input whose value takes effect on enter, for
// filters that go to the store: esc restores the value last applied, and every
// keystroke is sanitized.
type appliedInput struct {
	input   textinput.Model
	applied string
	editing bool
}

// edit focuses the input, starting from the applied value.
func (a *appliedInput) edit() tea.Cmd {
	a.editing = true
	a.input.SetValue(a.applied)
	a.input.CursorEnd()
	return a.input.Focus()
}

// reset forgets the applied value.
func (a *appliedInput) reset() {
	a.applied = ""
	a.input.SetValue("")
}

// key handles a key while editing; entered reports that apply was pressed and
// the input's value is now the applied one.
func (a *appliedInput) key(msg tea.KeyMsg, apply, cancel key.Binding) (entered bool, cmd tea.Cmd) {
	switch {
	case key.Matches(msg, apply):
		a.editing = false
		a.input.Blur()
		a.applied = strings.TrimSpace(a.input.Value())
		return true, nil
	case key.Matches(msg, cancel):
		a.editing = false
		a.input.Blur()
		a.input.SetValue(a.applied)
		return false, nil
	}
	a.input, cmd = a.input.Update(msg)
	sanitizeInput(&a.input)
	return false, cmd
}
