package main

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"
)

// row is one line of the table. ratio is keydesk ÷ baseline (NaN when the
// figure has no baseline to divide by); for a figure measured in interleaved
// rounds it is the median of the rounds' ratios, and spread shows their range.
type row struct {
	figure, keydesk, baseline string
	ratio                     float64
	spread                    string // "min–max (n rounds)", or "—"
	target                    string
	met                       string // "yes", "no" or "—" (no target)
}

// report collects rows and notes as groups finish.
type report struct {
	cfg     *config
	start   time.Time
	elapsed time.Duration
	rows    []row
	notes   []string
}

func (r *report) add(figure, keydesk, baseline string, ratio float64, target string, met *bool) {
	m := "—"
	if met != nil {
		m = "no"
		if *met {
			m = "yes"
		}
	}
	r.rows = append(r.rows, row{figure, keydesk, baseline, ratio, "—", target, m})
	logf("   %s: %s (baseline %s, %s) %s %s", figure, keydesk, baseline, fmtRatio(ratio), target, m)
}

// addRounds adds a row measured in interleaved rounds: its ratio is the
// median of the rounds' ratios and the spread column shows their range, so a
// reader sees how much a shared machine moved the figure.
func (r *report) addRounds(figure, keydesk, baseline string, rs rounds, target string, met func(ratio float64) bool) {
	med := rs.median()
	m := "—"
	if met != nil {
		m = "no"
		if met(med) {
			m = "yes"
		}
	}
	r.rows = append(r.rows, row{figure, keydesk, baseline, med, rs.String(), target, m})
	logf("   %s: %s (baseline %s, %s, rounds %s) %s %s", figure, keydesk, baseline, fmtRatio(med), rs, target, m)
}

// rounds are the per-round ratios (keydesk ÷ baseline) of a figure whose
// keydesk and baseline measurements alternate.
type rounds []float64

func (rs rounds) median() float64 {
	if len(rs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(rs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (rs rounds) String() string {
	if len(rs) == 0 {
		return "—"
	}
	unit := "rounds"
	if len(rs) == 1 {
		unit = "round"
	}
	return fmt.Sprintf("%s–%s (%d %s)", strings.TrimSuffix(fmtRatio(slices.Min(rs)), "×"), fmtRatio(slices.Max(rs)), len(rs), unit)
}

func (r *report) note(format string, a ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, a...))
}

func ptr(b bool) *bool { return &b }

func (r *report) table() string {
	var b strings.Builder
	b.WriteString("| figure | keydesk | baseline | ratio | spread of rounds | target | met? |\n")
	b.WriteString("|---|---:|---:|---:|---:|---|---|\n")
	for _, x := range r.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", x.figure, x.keydesk, x.baseline, fmtRatio(x.ratio), x.spread, x.target, x.met)
	}
	return b.String()
}

func (r *report) markdown() string {
	var b strings.Builder
	b.WriteString("# keydesk benchmarks\n\n")
	b.WriteString("Written by `go run ./bench` (see the README's Benchmarks section). Every figure is set beside a\n")
	b.WriteString("baseline measured in the same run on the same machine; the ratio is keydesk ÷ baseline. Where\n")
	b.WriteString("keydesk and its baseline are measured in alternating rounds (baseline, keydesk, baseline, …),\n")
	b.WriteString("the ratio is the median of the rounds' ratios and \"spread of rounds\" is their min–max, so the\n")
	b.WriteString("noise of a shared machine shows. Sizes are binary: KiB, MiB, GiB.\n\n")
	fmt.Fprintf(&b, "- date: %s\n", r.start.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- machine: %s\n", machine())
	fmt.Fprintf(&b, "- Go: %s\n", runtime.Version())
	mode := r.cfg.mode()
	if r.cfg.only != "" {
		mode += ", group " + r.cfg.only + " only"
	}
	fmt.Fprintf(&b, "- mode: %s; -duration %v, -concurrency %d, %d idle sessions, scale org %d users × %d tokens\n",
		mode, r.cfg.duration, r.cfg.concurrency, r.cfg.sessions, r.cfg.scaleUsers, r.cfg.scaleTokens)
	fmt.Fprintf(&b, "- run time: %v\n\n", r.elapsed.Round(time.Second))
	b.WriteString(r.table())
	if len(r.notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range r.notes {
			b.WriteString("- " + n + "\n")
		}
	}
	return b.String()
}

func fmtRatio(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "—"
	}
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f×", x)
	case x >= 10:
		return fmt.Sprintf("%.1f×", x)
	default:
		return fmt.Sprintf("%.2f×", x)
	}
}

// fmtDur prints a duration with three significant digits in a unit a reader
// compares at a glance.
func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.3g ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.3g µs", float64(d)/float64(time.Microsecond))
	}
}

func fmtRate(perSec float64, unit string) string {
	switch {
	case perSec >= 10_000:
		return fmt.Sprintf("%.1fk %s/s", perSec/1000, unit)
	case perSec >= 100:
		return fmt.Sprintf("%.0f %s/s", perSec, unit)
	default:
		return fmt.Sprintf("%.1f %s/s", perSec, unit)
	}
}

// fmtBytes prints a size in binary units (KiB, MiB, GiB: 1024-based, which
// is what /proc and the Go runtime count in).
func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}

// latencies is a sorted sample of durations.
type latencies []time.Duration

func (l latencies) sorted() latencies {
	out := slices.Clone(l)
	slices.Sort(out)
	return out
}

// pct returns the p-quantile (0..1) of a sorted sample.
func (l latencies) pct(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	return l[int(float64(len(l)-1)*p)]
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// within polls cond until it holds or d passes: the harness waits on
// conditions, never on sleeps.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}
