package cli

import (
	"encoding/json"
	"io"
	"strings"
	"time"

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
	var b strings.Builder
	for _, r := range t.rows {
		b.Reset()
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", t.width[i]-cellWidth(c)+2))
			}
		}
		b.WriteByte('\n')
		if _, err := io.WriteString(t.w, b.String()); err != nil {
			return err
		}
	}
	t.rows = nil
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
