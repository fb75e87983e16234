package tui

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/keydesk/keydesk/models"
	"github.com/sahilm/fuzzy"
)

type pickerKeys struct {
	Up, Down, PageUp, PageDown, Toggle, All, Continue, Cancel key.Binding
}

func newPickerKeys() pickerKeys {
	return pickerKeys{
		Up:       key.NewBinding(key.WithKeys("up", "ctrl+p"), key.WithHelp("↑", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "ctrl+n"), key.WithHelp("↓", "down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown"), key.WithHelp("pgdn", "page down")),
		Toggle:   key.NewBinding(key.WithKeys(" "), key.WithHelp("space", "select")),
		All:      key.NewBinding(key.WithKeys("ctrl+a"), key.WithHelp("ctrl+a", "select all matches")),
		Continue: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "continue")),
		Cancel:   key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
	}
}

// picker is the "Assign Token To User" fuzzy picker over the store's
// assignees (users and admins; the store decides who is on the list). It
// filters as you type, keeps selections across filters, and only draws the
// rows that fit, so 100,000 people cost one filter pass per keystroke.
type picker struct {
	st   Styles
	keys pickerKeys
	w, h int

	input   textinput.Model
	loading bool
	err     string

	users  []models.User
	labels []string // sanitized "name email", what the filter matches
	chosen []bool   // by index into users
	nSel   int

	query   string
	matches []int // indexes into users, best first
	sc      scroller

	// counts holds each person's usable tokens, asked for the rows on
	// screen only (a count is one small store read; 100,000 are not);
	// asked marks those already requested.
	counts map[string]int
	asked  map[string]bool
}

// pickerCountsMsg carries usable-token counts for some people.
type pickerCountsMsg struct {
	counts map[string]int
}

// wantCounts returns a command that counts the usable tokens of the people
// on screen whose count is not known yet, or nil.
func (p *picker) wantCounts(e *env) tea.Cmd {
	if p.loading || len(p.matches) == 0 {
		return nil
	}
	if p.counts == nil {
		p.counts, p.asked = map[string]int{}, map[string]bool{}
	}
	var ids []string
	lo, hi := p.sc.window()
	for i := lo; i < hi; i++ {
		id := p.users[p.matches[i]].ID
		if !p.asked[id] {
			p.asked[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	be, a := e.be, e.actor
	return func() tea.Msg {
		out := make(map[string]int, len(ids))
		for _, id := range ids {
			if n, err := be.LiveTokenCount(a, id); err == nil {
				out[id] = n
			}
		}
		return pickerCountsMsg{counts: out}
	}
}

// addCounts merges counts that arrived.
func (p *picker) addCounts(c map[string]int) {
	for id, n := range c {
		p.counts[id] = n
	}
}

func newPicker(st Styles) *picker {
	ti := newInput(st, "Filter: ", "", 128)
	ti.Placeholder = "type to search names and emails"
	ti.Focus()
	return &picker{st: st, keys: newPickerKeys(), input: ti, loading: true}
}

// setSize fits the picker to w×h cells.
func (p *picker) setSize(w, h int) {
	p.w, p.h = w, h
	p.input.Width = max(w-len(p.input.Prompt)-2, 10)
	p.sc.setHeight(p.listHeight())
}

// setUsers fills the picker once the store answered.
func (p *picker) setUsers(users []models.User) {
	p.loading = false
	p.users = users
	p.labels = make([]string, len(users))
	for i, u := range users {
		p.labels[i] = clean(u.Name) + " " + clean(u.Email)
	}
	p.chosen = make([]bool, len(users))
	p.nSel = 0
	p.query = "\x00" // force a first filter
	p.filter("")
}

// filter narrows the list to query. A query that extends the previous one
// only searches the previous matches: fuzzy matching is monotone, so anything
// that failed "ad" fails "ada" too.
func (p *picker) filter(q string) {
	if q == p.query {
		return
	}
	prev, prevQ := p.matches, p.query
	p.query = q
	defer func() { p.sc.setLen(len(p.matches)); p.sc.reset() }()
	if q == "" {
		p.matches = make([]int, len(p.users))
		for i := range p.matches {
			p.matches[i] = i
		}
		return
	}
	var cands []int
	if prevQ != "" && prevQ != "\x00" && strings.HasPrefix(q, prevQ) {
		cands = prev
	}
	p.matches = fuzzyFilter(q, p.labels, cands)
}

// fuzzyFilter returns the indexes of labels (restricted to cands, if not nil)
// that match q, best score first and in list order among equals. Large lists
// are split across CPUs.
func fuzzyFilter(q string, labels []string, cands []int) []int {
	n := len(labels)
	if cands != nil {
		n = len(cands)
	}
	idx := func(i int) int {
		if cands != nil {
			return cands[i]
		}
		return i
	}
	type hit struct{ idx, score int }
	parts := 1
	if n >= 8192 {
		parts = min(runtime.GOMAXPROCS(0), 8)
	}
	results := make([][]hit, parts)
	var wg sync.WaitGroup
	chunk := (n + parts - 1) / parts
	for pi := 0; pi < parts; pi++ {
		lo, hi := pi*chunk, min((pi+1)*chunk, n)
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func(pi, lo, hi int) {
			defer wg.Done()
			out := make([]hit, 0, hi-lo)
			if isASCII(q) {
				for i := lo; i < hi; i++ {
					j := idx(i)
					if sc, ok := asciiScore(q, labels[j]); ok {
						out = append(out, hit{idx: j, score: sc})
					}
				}
			} else {
				src := labelSource{labels: labels, idx: idx, lo: lo, n: hi - lo}
				for _, m := range fuzzy.FindFromNoSort(q, src) {
					out = append(out, hit{idx: idx(lo + m.Index), score: m.Score})
				}
			}
			results[pi] = out
		}(pi, lo, hi)
	}
	wg.Wait()
	total := 0
	for _, r := range results {
		total += len(r)
	}
	all := make([]hit, 0, total)
	for _, r := range results {
		all = append(all, r...)
	}
	// Counting sort by score: linear, stable, and scores span a small range.
	if len(all) == 0 {
		return []int{}
	}
	lo, hi := all[0].score, all[0].score
	for _, h := range all {
		lo, hi = min(lo, h.score), max(hi, h.score)
	}
	out := make([]int, len(all))
	if hi-lo > 1<<16 {
		sort.SliceStable(all, func(i, j int) bool { return all[i].score > all[j].score })
		for i, h := range all {
			out[i] = h.idx
		}
		return out
	}
	count := make([]int, hi-lo+2)
	for _, h := range all {
		count[hi-h.score+1]++
	}
	for i := 1; i < len(count); i++ {
		count[i] += count[i-1]
	}
	for _, h := range all {
		out[count[hi-h.score]] = h.idx
		count[hi-h.score]++
	}
	return out
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// asciiScore is the fast path of the fuzzy match for ASCII queries (nearly
// every keystroke): q's bytes must appear in order in label, compared without
// case. It scores like sahilm/fuzzy — a bonus for matches at the start of a
// word and for runs of adjacent matches, a small penalty for leading
// unmatched text — without allocating, which is what keeps one keystroke over
// 100,000 people within a frame. Non-ASCII queries take sahilm/fuzzy itself.
func asciiScore(q, label string) (int, bool) {
	score, qi, last, first := 0, 0, -2, -1
	for i := 0; i < len(label) && qi < len(q); i++ {
		c := label[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != q[qi] {
			continue
		}
		if first < 0 {
			first = i
		}
		switch {
		case i == 0:
			score += 10
		case isWordSep(label[i-1]):
			score += 8
		}
		if last == i-1 {
			score += 5
		}
		last = i
		qi++
	}
	if qi < len(q) {
		return 0, false
	}
	return score - min(first, 10), true
}

func isWordSep(c byte) bool { return c == ' ' || c == '@' || c == '.' || c == '-' || c == '_' }

type labelSource struct {
	labels []string
	idx    func(int) int
	lo, n  int
}

func (s labelSource) String(i int) string { return s.labels[s.idx(s.lo+i)] }
func (s labelSource) Len() int            { return s.n }

// selected returns the picked people in list order.
func (p *picker) selected() []models.User {
	var out []models.User
	for i, ok := range p.chosen {
		if ok {
			out = append(out, p.users[i])
		}
	}
	return out
}

// listHeight: title, filter, count line and the help hint come first.
func (p *picker) listHeight() int { return max(p.h-4, 1) }

// update handles a key. done is true when the picker closes; picked holds the
// selection when the person continued rather than cancelled.
func (p *picker) update(msg tea.KeyMsg) (done bool, picked []models.User, cmd tea.Cmd) {
	switch {
	case key.Matches(msg, p.keys.Cancel):
		return true, nil, nil
	case key.Matches(msg, p.keys.Continue):
		if p.nSel == 0 {
			p.err = "Select at least one person with space."
			return false, nil, nil
		}
		return true, p.selected(), nil
	case key.Matches(msg, p.keys.All):
		all := true
		for _, i := range p.matches {
			all = all && p.chosen[i]
		}
		for _, i := range p.matches {
			if p.chosen[i] == all {
				p.chosen[i] = !all
				if all {
					p.nSel--
				} else {
					p.nSel++
				}
			}
		}
		p.err = ""
		return false, nil, nil
	case key.Matches(msg, p.keys.Toggle):
		if len(p.matches) > 0 {
			i := p.matches[p.sc.cursor]
			p.chosen[i] = !p.chosen[i]
			if p.chosen[i] {
				p.nSel++
			} else {
				p.nSel--
			}
			p.err = ""
		}
		return false, nil, nil
	case key.Matches(msg, p.keys.Up):
		p.sc.move(-1)
		return false, nil, nil
	case key.Matches(msg, p.keys.Down):
		p.sc.move(1)
		return false, nil, nil
	case key.Matches(msg, p.keys.PageUp):
		p.sc.move(-p.listHeight())
		return false, nil, nil
	case key.Matches(msg, p.keys.PageDown):
		p.sc.move(p.listHeight())
		return false, nil, nil
	}
	p.input, cmd = p.input.Update(msg)
	sanitizeInput(&p.input)
	if !p.loading {
		p.filter(strings.ToLower(strings.TrimSpace(p.input.Value())))
	}
	return false, nil, cmd
}

func (p *picker) view() string {
	st := p.st
	w := max(p.w, 20)
	lines := []string{
		st.Title.Render("Assign token to users") + st.Subtle.Render(clip("  users and admins · space selects · enter continues", max(w-21, 0))),
		p.input.View(),
	}
	switch {
	case p.loading:
		lines = append(lines, st.Subtle.Render("Loading people…"))
		return strings.Join(lines, "\n")
	case len(p.users) == 0:
		lines = append(lines, st.Empty.Render("Nobody to assign to yet — add users or admins on the Users page."))
		return strings.Join(lines, "\n")
	}
	info := fmt.Sprintf("%d selected · %d of %d match · n/%d: usable tokens held", p.nSel, len(p.matches), len(p.users), models.MaxTokensActive)
	if pos := p.sc.position("shown", "shown"); len(p.matches) > p.sc.height && pos != "" {
		info += " · " + pos
	}
	if p.err != "" {
		info += " · " + st.Error.Render(p.err)
	} else {
		info = st.Subtle.Render(info)
	}
	lines = append(lines, info)
	if len(p.matches) == 0 {
		lines = append(lines, st.Empty.Render("No one matches — backspace to widen the search."))
		return strings.Join(lines, "\n")
	}
	nameW := clamp((w-19)/2, 10, 40)
	emailW := max(w-19-nameW-8, 10)
	lo, hi := p.sc.window()
	for i := lo; i < hi; i++ {
		u := p.users[p.matches[i]]
		box := "[ ]"
		if p.chosen[p.matches[i]] {
			box = "[x]"
		}
		count := ""
		if n, ok := p.counts[u.ID]; ok {
			count = fmt.Sprintf("%d/%d", n, models.MaxTokensActive)
		}
		row := box + " " + fit(clean(u.Name), nameW) + "  " + fit(clean(u.Email), emailW) + "  " + fit(string(u.Role), 5) + "  " + fit(count, 5)
		switch {
		case i == p.sc.cursor:
			lines = append(lines, st.Key.Render("›")+" "+st.RowSel.Render(row))
		case p.chosen[p.matches[i]]:
			lines = append(lines, "  "+st.OK.Render(row))
		default:
			lines = append(lines, "  "+row)
		}
	}
	return strings.Join(lines, "\n")
}

// helpKeys are the picker's keys for the help bar, the way out before the
// arrows: at 80 columns the bar ends in "…" after enter, and esc was the key
// cut off.
func (p *picker) helpKeys() []key.Binding {
	return []key.Binding{p.keys.Toggle, p.keys.All, p.keys.Continue, p.keys.Cancel, p.keys.Up, p.keys.Down}
}
