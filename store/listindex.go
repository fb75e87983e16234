package store

import (
	"bytes"
	"errors"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store/kv"
)

// listIndex answers the console's sorted and filtered token pages
// (ListTokens with All, a Limit and a Sort or Filter) from compact rows in
// memory instead of reading and decoding every token for every page: on a
// million tokens a sorted page took 5.7 s and a filtered one 3.7 s.
//
// It is built on the first such query, so only a store whose owner sorts or
// filters pays its memory. After that, commits keep it current without
// trusting their events: putToken and putUser mark the ids they write (on
// commit, via OnCommit), other servers' commits are marked by the watch
// (remote.go), and each query first re-reads the marked records. Marking and
// re-reading is order-insensitive, so a late or repeated mark can only cause
// one more read, never a stale row. Rows carry what the sort keys and the
// filter look at; the page itself is built from the records, read again in
// the page's transaction, and checked against the rows it was chosen by.
// Whenever the index cannot vouch for an answer (an etcd cache that is not
// proven fresh, a cursor it does not parse the same way, a row that does not
// match its record) the query falls back to the scan.
type listIndex struct {
	on     atomic.Bool  // writers mark what they write (set before the first build)
	served atomic.Int64 // pages answered from the index (tests)

	dmu    sync.Mutex
	dtoks  map[string]struct{} // token ids committed since they were read
	dusers map[string]struct{}
	lost   bool // a watch reset: everything may have changed

	mu    sync.Mutex // held by a query for its whole computation
	built bool
	rows  []listRow // by ID
	users []listUser
	uidx  map[string]int32
	roles []models.Role
	odd   map[string]string // tails that are not six ASCII bytes, by token id
	// orders are the rows in (key, id) order per sort ("name", "holder",
	// "expires"), made on first use, kept by upsert, dropped by what would
	// move many rows.
	orders map[string][]int32
	ver    uint64 // counts row changes (matchCache)
	match  matchCache
}

// listRow is one token as sorting and filtering see it (56 bytes plus the
// id and lower-cased name).
type listRow struct {
	id     string
	lname  string // strings.ToLower(Name)
	expSec int64
	holder int32 // index into users
	expNs  int32 // -1: never expires
	tail   [6]byte
	role   uint8 // index into roles
	flags  uint8
}

const (
	rowRevoked  = 1 << iota // RevokedAt set
	rowRotated              // RotatedAt set
	rowAwaiting             // assigned and not revealed
	rowASCIIID              // id is ASCII: matched without lower-casing a copy
	rowOddTail              // tail kept in listIndex.odd
)

// listUser is a holder as sorting and filtering see view1's name and email.
type listUser struct {
	key    string // the holder sort key: lower(name) NUL email
	lname  string // lower-cased, for the filter (lname shares key's bytes)
	lemail string
}

// statuses in the order listRow.status numbers them.
var rowStatuses = [...]models.TokenStatus{models.StatusActive, models.StatusAwaitingReveal,
	models.StatusExpired, models.StatusRevoked, models.StatusRotated}

func (r *listRow) status(nowSec int64, nowNs int32) int {
	switch {
	case r.flags&rowRevoked != 0:
		return 3
	case r.flags&rowRotated != 0:
		return 4
	case r.expNs >= 0 && (nowSec > r.expSec || nowSec == r.expSec && nowNs >= r.expNs):
		return 2
	case r.flags&rowAwaiting != 0:
		return 1
	}
	return 0
}

// errNoIndex says the index cannot answer this query: use the scan.
var errNoIndex = errors.New("listing index cannot answer")

// markTokens and markUsers record committed changes (OnCommit, the watch).
func (x *listIndex) markTokens(ids ...string) {
	x.dmu.Lock()
	if x.dtoks == nil {
		x.dtoks = map[string]struct{}{}
	}
	for _, id := range ids {
		x.dtoks[id] = struct{}{}
	}
	x.dmu.Unlock()
}

func (x *listIndex) markUsers(ids ...string) {
	x.dmu.Lock()
	if x.dusers == nil {
		x.dusers = map[string]struct{}{}
	}
	for _, id := range ids {
		x.dusers[id] = struct{}{}
	}
	x.dmu.Unlock()
}

// reset forgets the index (the watch lost its place in the history).
func (x *listIndex) reset() {
	x.dmu.Lock()
	x.lost = true
	x.dmu.Unlock()
}

// takeMarks swaps out the marks; lost reports a reset since the last take.
func (x *listIndex) takeMarks() (toks, users map[string]struct{}, lost bool) {
	x.dmu.Lock()
	defer x.dmu.Unlock()
	toks, users, lost = x.dtoks, x.dusers, x.lost
	x.dtoks, x.dusers, x.lost = nil, nil, false
	return toks, users, lost
}

// noteToken and noteUser are called by putToken and putUser.
func (t *txn) noteToken(id string) {
	if x := &t.s.list; x.on.Load() {
		t.OnCommit(func() { x.markTokens(id) })
	}
}

func (t *txn) noteUser(id string) {
	if x := &t.s.list; x.on.Load() {
		t.OnCommit(func() { x.markUsers(id) })
	}
}

const listBuildPage = 4096

// ensure builds the index if needed and applies the marks. x.mu is held.
func (x *listIndex) ensure(s *Store) error {
	toks, users, lost := x.takeMarks()
	if lost || !x.built {
		x.built = false
		if !x.on.Load() {
			x.on.Store(true)
			// Every write whose putToken ran before on was set commits
			// before this empty one: the scan below sees it.
			if err := s.update(func(kv.Tx) error { return nil }); err != nil {
				return err
			}
		}
		x.takeMarks() // what committed so far, the scan reads
		if err := x.build(s); err != nil {
			return err
		}
		x.built = true
		return nil
	}
	if len(toks) == 0 && len(users) == 0 {
		return nil
	}
	err := s.view(func(tx kv.Tx) error {
		t := s.txn(tx)
		for id := range users {
			if i, ok := x.uidx[id]; ok {
				if u := loadListUser(t, id); u != x.users[i] {
					x.users[i] = u
					x.ver++
					delete(x.orders, "holder")
				}
			}
		}
		for id := range toks {
			tok, err := t.token(id)
			if errors.Is(err, models.ErrNotFound) {
				x.remove(id)
				continue
			}
			if err != nil {
				return err
			}
			x.upsert(x.rowOf(t, tok))
		}
		return nil
	})
	if err != nil {
		x.built = false // the marks are gone: rebuild next time
	}
	return err
}

func loadListUser(t *txn, id string) listUser {
	u, err := t.user(id)
	if err != nil {
		u = models.User{ID: id, Name: "(unknown)", Email: ""}
	}
	key := strings.ToLower(u.Name) + "\x00" + u.Email
	return listUser{key: key, lname: key[:strings.LastIndexByte(key, 0)], lemail: strings.ToLower(u.Email)}
}

func (x *listIndex) build(s *Store) error {
	x.rows, x.users, x.uidx, x.roles, x.odd = nil, nil, map[string]int32{}, nil, map[string]string{}
	x.orders, x.match = nil, matchCache{}
	x.ver++
	var after []byte
	for {
		select {
		case <-s.quit:
			return errClosed
		default:
		}
		n := 0
		err := s.view(func(tx kv.Tx) error {
			t := s.txn(tx)
			r := kv.Range{Limit: listBuildPage}
			if after != nil {
				r.After = after
			}
			return tx.Scan(bucketTokens, r, func(k, v []byte) error {
				tok, err := decodeToken(k, v)
				if err != nil {
					return err
				}
				x.rows = append(x.rows, x.rowOf(t, tok))
				after = append(after[:0], k...)
				n++
				return nil
			})
		})
		if err != nil {
			return err
		}
		if n < listBuildPage {
			// Drop append's spare capacity: it would be a quarter more.
			x.rows = append(make([]listRow, 0, len(x.rows)), x.rows...)
			return nil
		}
	}
}

// rowOf makes tok's row, adding its holder and role to the tables.
func (x *listIndex) rowOf(t *txn, tok models.Token) listRow {
	r := listRow{id: tok.ID, lname: strings.ToLower(tok.Name), expNs: -1}
	if !tok.ExpiresAt.IsZero() {
		r.expSec, r.expNs = tok.ExpiresAt.Unix(), int32(tok.ExpiresAt.Nanosecond())
	}
	h, ok := x.uidx[tok.HolderID]
	if !ok {
		h = int32(len(x.users))
		x.users = append(x.users, loadListUser(t, tok.HolderID))
		x.uidx[tok.HolderID] = h
	}
	r.holder = h
	role := -1
	for i, ro := range x.roles {
		if ro == tok.Role {
			role = i
		}
	}
	if role < 0 && len(x.roles) < 255 {
		role = len(x.roles)
		x.roles = append(x.roles, tok.Role)
	}
	r.role = uint8(max(role, 0)) // more than 255 roles cannot happen (models.Roles)
	if !tok.RevokedAt.IsZero() {
		r.flags |= rowRevoked
	}
	if !tok.RotatedAt.IsZero() {
		r.flags |= rowRotated
	}
	if tok.Assigned && !tok.Revealed {
		r.flags |= rowAwaiting
	}
	if isASCII(tok.ID) {
		r.flags |= rowASCIIID
	}
	if len(tok.Tail) == 6 && isASCII(tok.Tail) {
		copy(r.tail[:], tok.Tail)
	} else {
		r.flags |= rowOddTail
		x.odd[tok.ID] = tok.Tail
	}
	return r
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func (x *listIndex) find(id string) (int, bool) {
	i := sort.Search(len(x.rows), func(i int) bool { return x.rows[i].id >= id })
	return i, i < len(x.rows) && x.rows[i].id == id
}

func (x *listIndex) upsert(r listRow) {
	x.ver++
	if r.flags&rowOddTail == 0 {
		delete(x.odd, r.id)
	}
	i, ok := x.find(r.id)
	if ok {
		old := x.rows[i]
		for by, o := range x.orders {
			keyOf, cmp := x.sorter(by, 0, 0)
			if cmp(keyOf(&old, 0), keyOf(&r, 0)) == 0 {
				continue // same place
			}
			j := sort.Search(len(o), func(j int) bool { return !x.rowLess(&x.rows[o[j]], &old, keyOf, cmp) })
			if j == len(o) || o[j] != int32(i) {
				delete(x.orders, by) // cannot happen; remake it
				continue
			}
			o = append(o[:j], o[j+1:]...)
			x.rows[i] = r
			x.orders[by] = insertPos(o, int32(i), x.rows, keyOf, cmp, x)
			x.rows[i] = old
		}
		x.rows[i] = r
		return
	}
	x.rows = append(x.rows, listRow{})
	if i < len(x.rows)-1 {
		// A new id before others (another server's clock): positions move.
		clear(x.orders)
		copy(x.rows[i+1:], x.rows[i:])
	}
	x.rows[i] = r
	for by, o := range x.orders {
		keyOf, cmp := x.sorter(by, 0, 0)
		x.orders[by] = insertPos(o, int32(i), x.rows, keyOf, cmp, x)
	}
}

// insertPos inserts row position p into order o.
func insertPos(o []int32, p int32, rows []listRow, keyOf func(*listRow, int) sortKey, cmp func(a, b sortKey) int, x *listIndex) []int32 {
	j := sort.Search(len(o), func(j int) bool { return x.rowLess(&rows[p], &rows[o[j]], keyOf, cmp) })
	o = append(o, 0)
	copy(o[j+1:], o[j:])
	o[j] = p
	return o
}

func (x *listIndex) remove(id string) {
	x.ver++
	if i, ok := x.find(id); ok {
		x.rows = append(x.rows[:i], x.rows[i+1:]...)
		clear(x.orders)
	}
	delete(x.odd, id)
}

// sortKey is a row's value under one sort: s for the string sorts, sec/ns
// for expires (ns -1: never).
type sortKey struct {
	s   string
	sec int64
	ns  int32
}

// Years 0000–9999 format to fixed width, so whole seconds order their
// RFC 3339 strings.
var (
	minKeySec = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	maxKeySec = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).Unix() - 1
)

// cmpExpires orders expiries as sortedPage's keys do: the RFC 3339 strings
// (in which a fraction sorts before no fraction, and ".55" before ".5"),
// never ("~") last.
func cmpExpires(a, b sortKey) int {
	switch {
	case a.ns < 0 && b.ns < 0:
		return 0
	case a.ns < 0:
		return 1
	case b.ns < 0:
		return -1
	case a.sec == b.sec && a.ns == b.ns:
		return 0
	case a.sec != b.sec && a.sec >= minKeySec && a.sec <= maxKeySec && b.sec >= minKeySec && b.sec <= maxKeySec:
		if a.sec < b.sec {
			return -1
		}
		return 1
	}
	return strings.Compare(expiresKey(a), expiresKey(b))
}

func expiresKey(k sortKey) string {
	if k.ns < 0 {
		return "~"
	}
	return time.Unix(k.sec, int64(k.ns)).UTC().Format(time.RFC3339Nano)
}

// rowFilter is TokenView.matches for rows, with what depends only on the
// filter worked out once per query.
type rowFilter struct {
	f         string
	fb        []byte
	allMasked bool   // the filter is inside "kdr_…": every token matches
	holders   []bool // by user (made by matchBits when it tests rows)
	statuses  [len(rowStatuses)]bool
	roles     []bool
	odd       map[string]string
}

var maskedPrefix = strings.ToLower(models.MaskToken(""))

func (x *listIndex) filter(f string) *rowFilter {
	if f == "" {
		return nil
	}
	rf := &rowFilter{f: f, fb: []byte(f), allMasked: strings.Contains(maskedPrefix, f), odd: x.odd}
	for i, st := range rowStatuses {
		rf.statuses[i] = strings.Contains(strings.ToLower(string(st)), f)
	}
	rf.roles = make([]bool, len(x.roles))
	for i, ro := range x.roles {
		rf.roles[i] = strings.Contains(strings.ToLower(string(ro)), f)
	}
	return rf
}

// matchFields is TokenView.matches without the status.
func (rf *rowFilter) matchFields(r *listRow) bool {
	if rf.allMasked || rf.holders[r.holder] || rf.roles[r.role] ||
		strings.Contains(r.lname, rf.f) {
		return true
	}
	if r.flags&rowASCIIID != 0 {
		if containsLowerASCII(r.id, rf.f) {
			return true
		}
	} else if strings.Contains(strings.ToLower(r.id), rf.f) {
		return true
	}
	if r.flags&rowOddTail != 0 {
		return strings.Contains(strings.ToLower(models.MaskToken(rf.odd[r.id])), rf.f)
	}
	var buf [32]byte
	b := append(buf[:0], maskedPrefix...)
	for _, c := range r.tail {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return bytes.Contains(b, rf.fb)
}

// containsLowerASCII is strings.Contains(strings.ToLower(s), f) for an
// ASCII s, without the copy.
func containsLowerASCII(s, f string) bool {
	if len(f) > len(s) {
		return false
	}
outer:
	for i := 0; i+len(f) <= len(s); i++ {
		for j := 0; j < len(f); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != f[j] {
				continue outer
			}
		}
		return true
	}
	return false
}

// pick is one chosen row: a copy, to check the record against.
type pick struct {
	r    listRow
	key  sortKey
	hkey string      // the holder's sort key when picked
	role models.Role // the token's role when picked
}

// indexedPage is ListTokens for a sorted or filtered All page, from the
// index; errNoIndex means use the scan instead.
func (s *Store) indexedPage(a Actor, q TokenQuery) (TokenPage, error) {
	if !s.trustCache() {
		return TokenPage{}, errNoIndex
	}
	// Refuse before building anything: the scan then says why.
	if err := s.view(func(tx kv.Tx) error {
		me, err := s.txn(tx).actor(a)
		if err != nil {
			return err
		}
		return models.Authorize(me.Subject(), models.ActTokenListAll, nil)
	}); err != nil {
		return TokenPage{}, errNoIndex
	}
	for range 3 {
		picks, more, err := s.pickRows(q)
		if err != nil {
			return TokenPage{}, errNoIndex
		}
		page, err := s.pageOf(a, q, picks, more)
		if err == nil {
			s.list.served.Add(1)
		}
		if !errors.Is(err, errStaleRow) {
			return page, err
		}
	}
	return TokenPage{}, errNoIndex
}

var errStaleRow = errors.New("a row changed under the page")

// pickRows chooses the page's rows (Limit, and whether more follow).
func (s *Store) pickRows(q TokenQuery) ([]pick, bool, error) {
	x := &s.list
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.ensure(s); err != nil {
		return nil, false, err
	}
	now := s.opts.Now().UTC()
	nowSec, nowNs := now.Unix(), int32(now.Nanosecond())
	w := walk{x: x, limit: q.Limit, nowSec: nowSec, nowNs: nowNs}
	if rf := x.filter(strings.ToLower(strings.TrimSpace(q.Filter))); rf != nil {
		w.rf, w.bits = rf, x.matchBits(rf)
	}
	if q.Sort == "" {
		if w.rf == nil {
			return nil, false, errNoIndex
		}
		w.byID(q.Oldest, q.After)
		x.label(w.out)
		return w.out, w.more, nil
	}
	keyOf, cmp := x.sorter(q.Sort, nowSec, nowNs)
	if keyOf == nil {
		return nil, false, errNoIndex
	}
	var cur *pick
	if q.After != "" {
		i := strings.LastIndexByte(q.After, 0)
		if i < 0 {
			return nil, false, errNoIndex
		}
		c := pick{r: listRow{id: q.After[i+1:]}}
		ck := q.After[:i]
		if q.Sort == "expires" {
			c.key.ns = -1
			if ck != "~" {
				tm, err := time.Parse(time.RFC3339Nano, ck)
				if err != nil || tm.UTC().Format(time.RFC3339Nano) != ck {
					return nil, false, errNoIndex // compare it as the scan does
				}
				c.key = sortKey{sec: tm.Unix(), ns: int32(tm.Nanosecond())}
			}
		} else {
			c.key.s = ck
		}
		cur = &c
	}
	// vsCur orders a row's (key, id) against the cursor's, ascending.
	vsCur := func(k sortKey, id string) int {
		if c := cmp(k, cur.key); c != 0 {
			return c
		}
		return strings.Compare(id, cur.r.id)
	}
	if q.Sort == "status" {
		// Few statuses, and rows are in ID order: walk the rows once per
		// status, in the sort's order, instead of keeping an order that
		// the clock would change.
		for n := range rowStatuses {
			st := n
			if q.Desc {
				st = len(rowStatuses) - 1 - n
			}
			k := sortKey{s: string(rowStatuses[st])}
			after := ""
			if cur != nil {
				c := cmp(k, cur.key)
				if c < 0 && !q.Desc || c > 0 && q.Desc {
					continue
				}
				if c == 0 {
					after = cur.r.id
				}
			}
			if w.byStatus(st, k, !q.Desc, after) {
				break
			}
		}
		x.label(w.out)
		return w.out, w.more, nil
	}
	o := x.order(q.Sort, keyOf, cmp)
	if !q.Desc {
		i := 0
		if cur != nil {
			i = sort.Search(len(o), func(j int) bool { r := &x.rows[o[j]]; return vsCur(keyOf(r, 0), r.id) > 0 })
		}
		for ; i < len(o) && !w.take(int(o[i]), keyOf); i++ {
		}
	} else {
		i := len(o) - 1
		if cur != nil {
			i = sort.Search(len(o), func(j int) bool { r := &x.rows[o[j]]; return vsCur(keyOf(r, 0), r.id) >= 0 }) - 1
		}
		for ; i >= 0 && !w.take(int(o[i]), keyOf); i-- {
		}
	}
	x.label(w.out)
	return w.out, w.more, nil
}

// label copies into picks what agrees checks that lives outside the row.
func (x *listIndex) label(picks []pick) {
	for i := range picks {
		picks[i].hkey, picks[i].role = x.users[picks[i].r.holder].key, x.roles[picks[i].r.role]
	}
}

// walk collects a page: rows the filter keeps, until one more than the
// limit shows whether another page follows.
type walk struct {
	x      *listIndex
	rf     *rowFilter
	bits   []uint64 // rows whose time-independent fields match rf
	limit  int
	nowSec int64
	nowNs  int32
	out    []pick
	more   bool
}

// take considers row i; it reports whether the page is full.
func (w *walk) take(i int, keyOf func(*listRow, int) sortKey) bool {
	r := &w.x.rows[i]
	st := r.status(w.nowSec, w.nowNs)
	if w.rf != nil && w.bits[i>>6]&(1<<(i&63)) == 0 && !w.rf.statuses[st] {
		return false
	}
	if len(w.out) == w.limit {
		w.more = true
		return true
	}
	p := pick{r: *r}
	if keyOf != nil {
		p.key = keyOf(r, st)
	}
	w.out = append(w.out, p)
	return false
}

// byID walks the rows in ID order (newest first unless oldest) after the
// cursor id.
func (w *walk) byID(oldest bool, after string) {
	rows := w.x.rows
	if oldest {
		i := 0
		if after != "" {
			i = sort.Search(len(rows), func(i int) bool { return rows[i].id > after })
		}
		for ; i < len(rows) && !w.take(i, nil); i++ {
		}
		return
	}
	i := len(rows) - 1
	if after != "" {
		i = sort.Search(len(rows), func(i int) bool { return rows[i].id >= after }) - 1
	}
	for ; i >= 0 && !w.take(i, nil); i-- {
	}
}

// byStatus walks the rows of status st in ID order (ascending if asc) after
// the cursor id; it reports whether the page is full.
func (w *walk) byStatus(st int, k sortKey, asc bool, after string) bool {
	rows := w.x.rows
	keyOf := func(*listRow, int) sortKey { return k }
	visit := func(i int) bool {
		if rows[i].status(w.nowSec, w.nowNs) != st {
			return false
		}
		return w.take(i, keyOf)
	}
	if asc {
		i := 0
		if after != "" {
			i = sort.Search(len(rows), func(i int) bool { return rows[i].id > after })
		}
		for ; i < len(rows); i++ {
			if visit(i) {
				return true
			}
		}
		return false
	}
	i := len(rows) - 1
	if after != "" {
		i = sort.Search(len(rows), func(i int) bool { return rows[i].id >= after }) - 1
	}
	for ; i >= 0; i-- {
		if visit(i) {
			return true
		}
	}
	return false
}

// order is the rows' positions in ascending (key, id) order for a sort
// whose key the clock does not change, sorted on first use and kept by
// upsert.
func (x *listIndex) order(by string, keyOf func(*listRow, int) sortKey, cmp func(a, b sortKey) int) []int32 {
	if o, ok := x.orders[by]; ok {
		return o
	}
	o := make([]int32, len(x.rows))
	for i := range o {
		o[i] = int32(i)
	}
	rows, users := x.rows, x.users
	byID := func(a, b *listRow) int { return strings.Compare(a.id, b.id) }
	switch by { // rowLess, unrolled: sorting a million rows is most of a first page
	case "name":
		slices.SortFunc(o, func(i, j int32) int {
			a, b := &rows[i], &rows[j]
			if c := strings.Compare(a.lname, b.lname); c != 0 {
				return c
			}
			return byID(a, b)
		})
	case "holder":
		slices.SortFunc(o, func(i, j int32) int {
			a, b := &rows[i], &rows[j]
			if a.holder != b.holder {
				if c := strings.Compare(users[a.holder].key, users[b.holder].key); c != 0 {
					return c
				}
			}
			return byID(a, b)
		})
	default:
		slices.SortFunc(o, func(i, j int32) int {
			a, b := &rows[i], &rows[j]
			if c := cmp(keyOf(a, 0), keyOf(b, 0)); c != 0 {
				return c
			}
			return byID(a, b)
		})
	}
	if x.orders == nil {
		x.orders = map[string][]int32{}
	}
	x.orders[by] = o
	return o
}

func (x *listIndex) rowLess(a, b *listRow, keyOf func(*listRow, int) sortKey, cmp func(a, b sortKey) int) bool {
	if c := cmp(keyOf(a, 0), keyOf(b, 0)); c != 0 {
		return c < 0
	}
	return a.id < b.id
}

// matchBits is the set of rows whose name, id, masked form, holder or role
// match rf (status, which the clock changes, is checked per page). The last
// set is kept while no row changes: the next page of the same filter reuses
// it, and a longer filter (the next keystroke) tests only the rows the
// shorter one kept.
func (x *listIndex) matchBits(rf *rowFilter) []uint64 {
	mc := &x.match
	if mc.bits != nil && mc.ver == x.ver && mc.f == rf.f {
		return mc.bits
	}
	rf.holders = make([]bool, len(x.users))
	for i, u := range x.users {
		rf.holders[i] = strings.Contains(u.lname, rf.f) || strings.Contains(u.lemail, rf.f)
	}
	bits := make([]uint64, (len(x.rows)+63)/64)
	if mc.bits != nil && mc.ver == x.ver && strings.Contains(rf.f, mc.f) {
		for wi, word := range mc.bits {
			for word != 0 {
				b := bitsTrailing(word)
				word &= word - 1
				if i := wi*64 + b; rf.matchFields(&x.rows[i]) {
					bits[wi] |= 1 << b
				}
			}
		}
	} else {
		for i := range x.rows {
			if rf.matchFields(&x.rows[i]) {
				bits[i>>6] |= 1 << (i & 63)
			}
		}
	}
	*mc = matchCache{f: rf.f, ver: x.ver, bits: bits}
	return bits
}

// matchCache is the last filter's matchBits.
type matchCache struct {
	f    string
	ver  uint64
	bits []uint64
}

// sorter returns a sort's key of a row and how keys compare.
func (x *listIndex) sorter(by string, nowSec int64, nowNs int32) (func(r *listRow, st int) sortKey, func(a, b sortKey) int) {
	str := func(a, b sortKey) int { return strings.Compare(a.s, b.s) }
	switch by {
	case "name":
		return func(r *listRow, _ int) sortKey { return sortKey{s: r.lname} }, str
	case "holder":
		return func(r *listRow, _ int) sortKey { return sortKey{s: x.users[r.holder].key} }, str
	case "status":
		return func(_ *listRow, st int) sortKey { return sortKey{s: string(rowStatuses[st])} }, str
	case "expires":
		return func(r *listRow, _ int) sortKey { return sortKey{sec: r.expSec, ns: r.expNs} }, cmpExpires
	}
	return nil, nil
}

// pageOf reads the picked tokens in one transaction (checking the actor
// again) and checks each against the row it was picked by.
func (s *Store) pageOf(a Actor, q TokenQuery, picks []pick, more bool) (TokenPage, error) {
	var page TokenPage
	err := s.view(func(tx kv.Tx) error {
		page = TokenPage{}
		t := s.txn(tx)
		me, err := t.actor(a)
		if err != nil {
			return err
		}
		if err := models.Authorize(me.Subject(), models.ActTokenListAll, nil); err != nil {
			return err
		}
		un := userNames{t: t, cache: map[string]models.User{}}
		for _, p := range picks {
			tok, err := t.token(p.r.id)
			if errors.Is(err, models.ErrNotFound) {
				s.list.markTokens(p.r.id)
				return errStaleRow
			}
			if err != nil {
				return err
			}
			v := s.view1(tok, t.now, &un)
			if !p.r.agrees(v) || p.role != v.Role || p.hkey != strings.ToLower(v.HolderName)+"\x00"+v.HolderEmail {
				s.list.markTokens(p.r.id)
				s.list.markUsers(tok.HolderID)
				return errStaleRow
			}
			page.Tokens = append(page.Tokens, v)
		}
		return nil
	})
	if err != nil {
		return TokenPage{}, err
	}
	if more && len(picks) > 0 {
		last := picks[len(picks)-1]
		if q.Sort == "" {
			page.Next = last.r.id
		} else {
			key := last.key.s
			if q.Sort == "expires" {
				key = expiresKey(last.key)
			}
			page.Next = key + "\x00" + last.r.id
		}
	}
	return page, nil
}

// agrees reports whether the record v was read from is the one r was made
// from, in what sorting and filtering look at (pageOf checks the holder and
// role; the id and tail never change).
func (r *listRow) agrees(v TokenView) bool {
	exp := r.expNs < 0 && v.ExpiresAt.IsZero() ||
		r.expNs >= 0 && !v.ExpiresAt.IsZero() && v.ExpiresAt.Unix() == r.expSec && int32(v.ExpiresAt.Nanosecond()) == r.expNs
	var flags uint8
	if !v.RevokedAt.IsZero() {
		flags |= rowRevoked
	}
	if !v.RotatedAt.IsZero() {
		flags |= rowRotated
	}
	if v.Assigned && !v.Revealed {
		flags |= rowAwaiting
	}
	const state = rowRevoked | rowRotated | rowAwaiting
	return exp && r.lname == strings.ToLower(v.Name) && r.flags&state == flags
}

func bitsTrailing(w uint64) int { return bits.TrailingZeros64(w) }
