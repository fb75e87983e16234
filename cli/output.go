package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/term"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/wire"
)

// writeJSON prints one object, indented, as every non-list --json answer.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// cellWidth is how many terminal cells a sanitized cell takes: the console's
// measure, so a table of CJK names or emoji lines up as the console's does.
var cellWidth = models.CellWidth

// table writes columns aligned by display width. Every cell is sanitized,
// since names and emails are user-supplied and the output may be a terminal.
// Rows are kept until flush, as any aligned table must.
type table struct {
	w     io.Writer
	rows  [][]string
	width []int
	// fit, when set, is the width of the terminal the table goes to:
	// flush leaves out the drop columns, in order, while it is wider, then
	// cuts the last column's cells, and tells note what it left out. Not
	// set (a pipe, a file), every column is written whole.
	fit  int
	drop []string
	note io.Writer
}

// fitTo makes t fit a terminal width cells wide (see table.fit); width 0
// leaves t as it is.
func (t *table) fitTo(width int, note io.Writer, drop ...string) {
	t.fit, t.note, t.drop = width, note, drop
}

// columns are the indexes flush writes, and the headers it left out.
func (t *table) columns() (keep []int, left []string) {
	for i := range t.width {
		keep = append(keep, i)
	}
	if t.fit <= 0 || len(t.rows) == 0 {
		return keep, nil
	}
	for _, name := range t.drop {
		if t.span(keep) <= t.fit {
			break
		}
		for j, i := range keep {
			if i < len(t.rows[0]) && t.rows[0][i] == name {
				keep = append(keep[:j:j], keep[j+1:]...)
				left = append(left, name)
				break
			}
		}
	}
	return keep, left
}

// span is how wide the columns keep make a row.
func (t *table) span(keep []int) int {
	n := 2 * max(len(keep)-1, 0)
	for _, i := range keep {
		n += t.width[i]
	}
	return n
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{w: w}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	r := make([]string, len(cells))
	for i, c := range cells {
		c = strings.ReplaceAll(models.SanitizeLine(c), "\t", " ")
		r[i] = c
		if i >= len(t.width) {
			t.width = append(t.width, 0)
		}
		t.width[i] = max(t.width[i], cellWidth(c))
	}
	t.rows = append(t.rows, r)
}

func (t *table) flush() error {
	keep, left := t.columns()
	last := -1 // the width the last column is cut to, if it must be
	if len(keep) > 0 && t.fit > 0 && t.span(keep) > t.fit {
		if w := t.fit - (t.span(keep) - t.width[keep[len(keep)-1]]); w >= 8 {
			last = w
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		b.Reset()
		for j, i := range keep {
			c := ""
			if i < len(r) {
				c = r[i]
			}
			if j == len(keep)-1 {
				if last > 0 && cellWidth(c) > last {
					c = ansi.Truncate(c, last, "…")
				}
				b.WriteString(c)
				break
			}
			b.WriteString(c + strings.Repeat(" ", t.width[i]-cellWidth(c)+2))
		}
		b.WriteByte('\n')
		if _, err := io.WriteString(t.w, b.String()); err != nil {
			return err
		}
	}
	t.rows = nil
	if len(left) > 0 && t.note != nil {
		fmt.Fprintf(t.note, "(hidden at %d columns: %s; see --json)\n", t.fit, strings.Join(left, ", "))
	}
	return nil
}

// stamp is a time as every output shows it: RFC 3339 in UTC at second
// precision, or ifZero.
func stamp(t time.Time, ifZero string) string {
	if t.IsZero() {
		return ifZero
	}
	return wire.At(t).String()
}

// jsonArray streams a JSON array one element per line, so a million tokens
// never sit in memory at once and `jq` reads it as any array. Lines are
// written in 256 KiB chunks (one write per element was a system call per
// token), and tokens are encoded by wire.Token.AppendJSON, byte for byte
// json.Marshal without its reflection.
type jsonArray struct {
	w   io.Writer
	n   int
	buf []byte
	enc wire.RowEncoder // for addRow
}

func newJSONArray(w io.Writer) *jsonArray { return &jsonArray{w: w} }

const jsonArrayChunk = 256 << 10

func (a *jsonArray) add(v any) error {
	if a.n == 0 {
		a.buf = append(a.buf, "[\n"...)
	} else {
		a.buf = append(a.buf, ",\n"...)
	}
	switch t := v.(type) {
	case wire.Token:
		a.buf = t.AppendJSON(a.buf)
	default:
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		a.buf = append(a.buf, data...)
	}
	a.n++
	if len(a.buf) >= jsonArrayChunk {
		return a.flush()
	}
	return nil
}

// addRow is add for a token encoded straight from its record; holder and
// creator number its people for the encoder's cache (store.TokenRow.HolderRef).
func (a *jsonArray) addRow(r *wire.TokenRow, holder, creator int) error {
	if a.n == 0 {
		a.buf = append(a.buf, "[\n"...)
	} else {
		a.buf = append(a.buf, ",\n"...)
	}
	a.buf = a.enc.Append(a.buf, r, holder, creator)
	a.n++
	if len(a.buf) >= jsonArrayChunk {
		return a.flush()
	}
	return nil
}

func (a *jsonArray) flush() error {
	_, err := a.w.Write(a.buf)
	a.buf = a.buf[:0]
	return err
}

func (a *jsonArray) close() error {
	if a.n == 0 {
		_, err := io.WriteString(a.w, "[]\n")
		return err
	}
	a.buf = append(a.buf, "\n]\n"...)
	return a.flush()
}

// writeList prints items as one streamed JSON array.
func writeList[T any](w io.Writer, items []T) error {
	arr := newJSONArray(w)
	for _, it := range items {
		if err := arr.add(it); err != nil {
			return err
		}
	}
	return arr.close()
}

// termWidth is the width of the terminal w is, when a person reads it
// there (locally); 0 for a pipe or a file, and over SSH, where the client's
// width is not known here.
func (g *Globals) termWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if g.env.Session != nil || !ok || !term.IsTerminal(f.Fd()) {
		return 0
	}
	width, _, err := term.GetSize(f.Fd())
	if err != nil {
		return 0
	}
	return width
}
