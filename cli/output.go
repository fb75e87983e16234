package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keydesk/keydesk/models"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns; every cell is sanitized, since names and
// emails are user-supplied and the output may be a terminal.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = strings.ReplaceAll(models.SanitizeLine(c), "\t", " ")
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

func day(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Local().Format("2006-01-02")
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// jsonArray streams a JSON array element by element.
type jsonArray struct {
	w   io.Writer
	n   int
	enc *json.Encoder
}

func newJSONArray(w io.Writer) *jsonArray { return &jsonArray{w: w, enc: json.NewEncoder(w)} }

func (a *jsonArray) add(v any) error {
	sep := ",\n"
	if a.n == 0 {
		sep = "[\n"
	}
	if _, err := io.WriteString(a.w, sep); err != nil {
		return err
	}
	a.n++
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = a.w.Write(data)
	return err
}

func (a *jsonArray) close() error {
	if a.n == 0 {
		_, err := io.WriteString(a.w, "[]\n")
		return err
	}
	_, err := io.WriteString(a.w, "\n]\n")
	return err
}
