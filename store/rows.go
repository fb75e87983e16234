package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store/kv"
)

// TokenRow is one token of a listing as EachTokenRow hands it out: its text
// fields are byte slices into a buffer the listing reuses, so they are valid
// only until fn returns (copy what must outlive the call). Times are UTC;
// the zero time means none.
type TokenRow struct {
	ID, Name, HolderID, Role, CreatedBy, Tail, RevokedBy, RotatedTo, LastUsedBy []byte

	Assigned, Revealed                                                 bool
	CreatedAt, ExpiresAt, RevokedAt, RotatedAt, GraceUntil, LastUsedAt time.Time

	Status                                            models.TokenStatus
	HolderName, HolderEmail, CreatorName, RevokerName string
	// HolderRef and CreatorRef number the holder and the creator within one
	// listing (1, 2, …; 0: not numbered): rows of one EachTokenRow call with
	// the same number name the same person, with the same name and email,
	// so a caller may keep what it derives from them by number
	// (wire.RowEncoder).
	HolderRef, CreatorRef int
}

// rowPageBytes bounds the record bytes one EachTokenRow transaction copies
// out; rowPageTokens bounds the tokens. Either ends a page.
const (
	rowPageBytes  = 1 << 20
	rowPageTokens = 4096
)

// EachTokenRow is EachToken for listings that encode each token straight from
// its record (`token list --all --json` on a million tokens): the records of
// a page are copied out of the transaction into one reused buffer and read in
// place, holder names come from a per-listing cache, and nothing is allocated
// per token. The permission check, the order, the paging cursor and the rule
// that no transaction waits on fn are EachToken's: each page is at most
// rowPageTokens tokens (rowPageBytes of records) read in a transaction that
// closes before fn sees them; while fn works through one page, the next is
// read (its own short transaction, never held open while waiting for fn).
//
// Filters and one holder's tokens go through EachToken (they read a handful
// of tokens, or decide per token on its text), converted to rows.
func (s *Store) EachTokenRow(a Actor, q TokenQuery, fn func(*TokenRow) error) error {
	if !q.All || q.Filter != "" {
		var r TokenRow
		return s.EachToken(a, q, func(v TokenView) error {
			r.fromView(v)
			return fn(&r)
		})
	}
	// Two pages take turns: while fn encodes one (the listing's other half
	// of the work), a reader fills the next. The reader never waits with a
	// transaction open — it sends a page only after its view has closed, and
	// waits for a free page with none open — so a slow client still holds
	// no transaction, and on one CPU the turns simply alternate.
	pages, free := make(chan *rowPage, 1), make(chan *rowPage, 2)
	free <- newRowPage()
	free <- newRowPage()
	done := make(chan struct{})
	reader := make(chan struct{})
	defer func() { close(done); <-reader }()
	go func() {
		defer close(reader)
		defer close(pages)
		s.readRowPages(a, q, free, pages, done)
	}()
	for p := range pages {
		if p.err != nil {
			return p.err
		}
		// The page's snapshot has closed: a use flushed since is in the
		// buffer's last batch, one still pending in pend.
		s.usage.applyPending(p.rows)
		for i := range p.rows {
			r := &p.rows[i]
			if err := fn(r); err != nil {
				if errors.Is(err, kv.ErrStop) {
					return nil
				}
				return err
			}
		}
		if !p.more {
			return nil
		}
		free <- p
	}
	return nil
}

// rowPage is one page of a listing: the records copied out of one read
// transaction and the rows that point into them.
type rowPage struct {
	arena []byte
	rows  []TokenRow
	more  bool  // the listing goes on after this page
	err   error // the read failed; nothing follows
}

func newRowPage() *rowPage {
	return &rowPage{arena: make([]byte, 0, rowPageBytes), rows: make([]TokenRow, 0, 256)}
}

// readRowPages fills the pages EachTokenRow hands to fn, in order, each in
// a read transaction of its own, until the listing ends, fails, or done
// closes. Only this goroutine touches the name cache and the cursor.
func (s *Store) readRowPages(a Actor, q TokenQuery, free <-chan *rowPage, pages chan<- *rowPage, done <-chan struct{}) {
	names := newNameCache()
	preloaded := false
	after := []byte(q.After)
	var un rowNames
	for {
		var p *rowPage
		select {
		case p = <-free:
		case <-done:
			return
		}
		p.arena, p.rows, p.more, p.err = p.arena[:0], p.rows[:0], false, nil
		p.err = s.view(func(tx kv.Tx) error {
			p.arena, p.rows, p.more = p.arena[:0], p.rows[:0], false
			t := s.txn(tx)
			me, err := t.actor(a)
			if err != nil {
				return err
			}
			if err := models.Authorize(me.Subject(), models.ActTokenListAll, nil); err != nil {
				return err
			}
			un = rowNames{t: t, cache: names}
			r := kv.Range{Reverse: !q.Oldest, Limit: rowPageTokens}
			if len(after) > 0 && q.Oldest {
				r.After = after
			} else if len(after) > 0 {
				r.Before = after
			}
			n := 0
			err = tx.Scan(bucketTokens, r, func(k, v []byte) error {
				if n > 0 && len(p.arena)+len(k)+len(v) > cap(p.arena) {
					p.more = true // the buffer is full: the rest waits for the next page
					return kv.ErrStop
				}
				n++
				if len(p.arena)+len(k)+len(v) > cap(p.arena) {
					// One record larger than the buffer: give it a buffer of its own.
					p.arena = make([]byte, 0, len(k)+len(v))
				}
				start := len(p.arena)
				p.arena = append(p.arena, k...)
				p.arena = append(p.arena, v...)
				rec := p.arena[start:len(p.arena):len(p.arena)]
				p.rows = append(p.rows, TokenRow{})
				row := &p.rows[len(p.rows)-1]
				if err := row.decode(rec[:len(k)], rec[len(k):]); err != nil {
					return err
				}
				row.Status = row.status(t.now)
				h, ref := un.get(row.HolderID)
				row.HolderName, row.HolderEmail, row.HolderRef = h.name, h.email, ref
				// Most people create their own tokens.
				row.CreatorName, row.CreatorRef = h.name, ref
				if !bytes.Equal(row.CreatedBy, row.HolderID) {
					c, ref := un.get(row.CreatedBy)
					row.CreatorName, row.CreatorRef = c.name, ref
				}
				if len(row.RevokedBy) > 0 {
					r, _ := un.get(row.RevokedBy)
					row.RevokerName = r.name
				}
				return nil
			})
			if n == rowPageTokens {
				p.more = true
			}
			return err
		})
		if p.err == nil && len(p.rows) == 0 {
			p.more = false
		}
		if p.err == nil && p.more && !preloaded && un.misses >= preloadMisses {
			// This listing goes through many people: reading them all in
			// key order costs a fraction of looking each up on its own.
			preloaded = true
			p.err = s.preloadNames(names)
		}
		if p.err == nil && len(p.rows) > 0 {
			// The cursor must outlive the buffer the next page refills.
			after = append(after[:0], p.rows[len(p.rows)-1].ID...)
		}
		select {
		case pages <- p:
		case <-done:
			return
		}
		if p.err != nil || !p.more {
			return
		}
	}
}

// decode reads the token record data stored under key id into r, its text
// fields pointing into id and data. Schema-1 (JSON) records are decoded the
// slow way.
func (r *TokenRow) decode(id, data []byte) error {
	if len(data) > 0 && data[0] == '{' {
		tok, err := decodeTokenJSON(id, data)
		if err != nil {
			return err
		}
		r.fromToken(tok)
		return nil
	}
	if len(data) < 2 || data[0] != tokenFormat1 {
		return fmt.Errorf("damaged token record %s: unknown format", models.Sanitize(string(id)))
	}
	flags := data[1]
	*r = TokenRow{ID: id, Assigned: flags&flagAssigned != 0, Revealed: flags&flagRevealed != 0}
	b := rawReader{b: data[2:]}
	r.Name = b.bytes()
	r.HolderID = b.bytes()
	r.Role = b.bytes()
	r.CreatedAt = b.time()
	r.CreatedBy = b.bytes()
	r.ExpiresAt = b.time()
	r.Tail = b.bytes()
	r.RevokedAt = b.time()
	r.RevokedBy = b.bytes()
	r.RotatedAt = b.time()
	r.RotatedTo = b.bytes()
	r.GraceUntil = b.time()
	r.LastUsedAt = b.time()
	r.LastUsedBy = b.bytes()
	if b.err == nil && len(b.b) != 0 {
		b.err = errors.New("trailing bytes")
	}
	if b.err != nil {
		return fmt.Errorf("damaged token record %s: %v", models.Sanitize(string(id)), b.err)
	}
	if len(id) == 0 || len(r.HolderID) == 0 {
		return fmt.Errorf("damaged token record: missing id or holder")
	}
	return nil
}

// status is models.Token.Status for the row.
func (r *TokenRow) status(now time.Time) models.TokenStatus {
	return models.StatusAt(now, r.Assigned, r.Revealed, r.ExpiresAt, r.RevokedAt, r.RotatedAt)
}

func (r *TokenRow) fromToken(t models.Token) {
	*r = TokenRow{ID: []byte(t.ID), Name: []byte(t.Name), HolderID: []byte(t.HolderID), Role: []byte(t.Role),
		CreatedBy: []byte(t.CreatedBy), Tail: []byte(t.Tail), RevokedBy: []byte(t.RevokedBy),
		RotatedTo: []byte(t.RotatedTo), LastUsedBy: []byte(t.LastUsedBy), Assigned: t.Assigned, Revealed: t.Revealed,
		CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt, RotatedAt: t.RotatedAt,
		GraceUntil: t.GraceUntil, LastUsedAt: t.LastUsedAt}
}

func (r *TokenRow) fromView(v TokenView) {
	r.fromToken(v.Token)
	r.Status, r.HolderName, r.HolderEmail, r.CreatorName, r.RevokerName = v.Status, v.HolderName, v.HolderEmail, v.CreatorName, v.RevokerName
}

// rawReader is recordReader returning fields in place instead of copies.
type rawReader struct {
	b   []byte
	err error
}

func (r *rawReader) bytes() []byte {
	// Most fields are shorter than 128 bytes: a one-byte length.
	if len(r.b) > 0 && r.b[0] < 0x80 && int(r.b[0]) < len(r.b) {
		n := 1 + int(r.b[0])
		s := r.b[1:n:n]
		r.b = r.b[n:]
		return s
	}
	if r.err != nil {
		return nil
	}
	n, w := binary.Uvarint(r.b)
	if w <= 0 || n > uint64(len(r.b)-w) {
		r.err = errDamagedRecord
		return nil
	}
	s := r.b[w : w+int(n) : w+int(n)]
	r.b = r.b[w+int(n):]
	return s
}

func (r *rawReader) time() time.Time {
	if len(r.b) > 0 && r.b[0] == 0 { // none: most tokens never expire, rotate, …
		r.b = r.b[1:]
		return time.Time{}
	}
	if r.err != nil {
		return time.Time{}
	}
	t, w := varintTime(r.b)
	if w <= 0 {
		r.err = errDamagedRecord
		return time.Time{}
	}
	r.b = r.b[w:]
	return t
}

// rowNames is EachTokenRow's view of its name cache for one page: a miss
// reads the person's record in the page's transaction. The usual record is
// read in place (quickNameEmail) rather than decoded: 100k people decoded by
// encoding/json were a fifth of listing a million tokens.
type rowNames struct {
	t      *txn
	cache  *nameCache
	misses int // people not in the cache, this page
}

// nameCache is a listing's people by id, each numbered (TokenRow.HolderRef)
// in the order first met.
type nameCache struct {
	// idx finds a person by id: ids of up to 23 bytes (every id keydesk
	// makes is 18) are keys held in the map itself, so a lookup reads no
	// string elsewhere in memory and the collector has nothing in it to
	// scan; longer ones are in long.
	// idx is keyed by a 64-bit hash of the key (hashKey), checked against
	// the person it finds: a 24-byte key cost a hashed compare of all its
	// bytes per lookup (8% of a million-token listing). A person whose
	// hash an other person's holds already is in clash, keyed in full.
	idx   map[uint64]int32 // → index in people
	clash map[idKey]int32
	long  map[string]int32
	// people in chunks of peopleChunk, never moved: one slice of 100k grown
	// by doubling was copied (with the collector's write barriers) a
	// megabyte at a time.
	people [][]recentPerson
	n      int
	// recent is a small direct-mapped copy of idx's entries by a hash of the
	// id's last bytes (the random part of a generated id): neighbouring
	// tokens name a few hundred people, each several times, and a lookup
	// in a map of 100k people missed the processor's caches (12% of a
	// million-token listing).
	recent [recentSlots]recentPerson
}

// idKey is an id of up to 23 bytes, zero-padded, its length + 1 in the last
// byte.
type idKey [24]byte

// hashKey is k's key in nameCache.idx.
func hashKey(k *idKey) uint64 {
	a := binary.LittleEndian.Uint64(k[0:])
	b := binary.LittleEndian.Uint64(k[8:])
	c := binary.LittleEndian.Uint64(k[16:])
	h := (a ^ 0x9e3779b97f4a7c15) * 0xbf58476d1ce4e5b9
	h = (h ^ b ^ h>>31) * 0x94d049bb133111eb
	return h ^ c ^ h>>29
}

// keyOf is id's idKey, or false when id is too long for one.
func keyOf(id []byte) (k idKey, ok bool) {
	if len(id) >= len(k) {
		return k, false
	}
	copy(k[:], id)
	k[len(k)-1] = byte(len(id)) + 1 // never the zero key, which marks a long id
	return k, true
}

const recentSlots = 1 << 12

const peopleChunk = 1 << 12

// person is the cached person numbered i+1.
func (c *nameCache) person(i int32) *recentPerson {
	return &c.people[i/peopleChunk][i%peopleChunk]
}

// recentPerson is a cached person: id (key, or long when it does not fit
// one), number and name.
type recentPerson struct {
	key  idKey
	long string
	ref  int // 0: an empty slot of recent
	v    nameEmail
}

// is reports whether p is the person with id (key, ok from keyOf).
func (p *recentPerson) is(id []byte, key idKey, ok bool) bool {
	if ok {
		return p.key == key
	}
	return p.key == idKey{} && p.long == string(id)
}

// recentSlot is id's entry in recent.
func (c *nameCache) recentSlot(id []byte) *recentPerson {
	var h uint64
	if len(id) >= 8 {
		h = binary.LittleEndian.Uint64(id[len(id)-8:])
	} else {
		for _, b := range id {
			h = h<<8 | uint64(b)
		}
	}
	return &c.recent[(h*0x9e3779b97f4a7c15)>>(64-12)]
}

func newNameCache() *nameCache { return &nameCache{idx: map[uint64]int32{}} }

// find is the index of the person with id in people.
func (c *nameCache) find(id []byte, key idKey, ok bool) (int32, bool) {
	if ok {
		i, found := c.idx[hashKey(&key)]
		if found && c.person(i).key == key {
			return i, true
		}
		if c.clash == nil {
			return 0, false
		}
		i, found = c.clash[key]
		return i, found
	}
	i, found := c.long[string(id)]
	return i, found
}

// index enters people[i] in the maps.
func (c *nameCache) index(i int32) {
	p := c.person(i)
	if p.key != (idKey{}) {
		h := hashKey(&p.key)
		if j, found := c.idx[h]; found && c.person(j).key != p.key {
			if c.clash == nil {
				c.clash = map[idKey]int32{}
			}
			c.clash[p.key] = i
			return
		}
		c.idx[h] = i
		return
	}
	if c.long == nil {
		c.long = map[string]int32{}
	}
	c.long[p.long] = i
}

// add caches v for id unless the cache is full, and returns its number (0
// when not cached).
func (c *nameCache) add(id []byte, v nameEmail) int {
	ref := c.push(id, v)
	if ref > 0 {
		c.index(int32(ref - 1))
	}
	return ref
}

// push is add without the maps: reindex must follow.
func (c *nameCache) push(id []byte, v nameEmail) int {
	if c.n >= maxNameCache {
		return 0
	}
	if c.n%peopleChunk == 0 {
		c.people = append(c.people, make([]recentPerson, 0, peopleChunk))
	}
	p := recentPerson{ref: c.n + 1, v: v}
	if k, ok := keyOf(id); ok {
		p.key = k
	} else {
		p.long = string(id)
	}
	last := &c.people[len(c.people)-1]
	*last = append(*last, p)
	c.n++
	*c.recentSlot(id) = p
	return p.ref
}

// reindex rebuilds the maps from people, made at their size at once:
// growing one insert at a time to 100k people cost 400 ns an insert. A
// person numbered twice is found under the later number.
func (c *nameCache) reindex() {
	c.idx, c.clash, c.long = make(map[uint64]int32, c.n), nil, nil
	for i := range int32(c.n) {
		c.index(i)
	}
}

type nameEmail struct{ name, email string }

// preloadMisses is how many people one page of a listing must look up
// before EachTokenRow reads every person at once (preloadNames).
const preloadMisses = rowPageTokens / 16

// preloadNames fills cache with every person's name and email, reading the
// users bucket in key order, at most rowPageTokens records per read
// transaction: one sequential pass, where a million-token listing otherwise
// looked up 100k people one B+tree descent at a time (11% of its time). A
// name may be a page older than the token that shows it, as a cached name
// always could.
func (s *Store) preloadNames(cache *nameCache) error {
	var after []byte
	for cache.n < maxNameCache {
		n := 0
		err := s.view(func(tx kv.Tx) error {
			return tx.Scan(bucketUsers, kv.Range{After: after, Limit: rowPageTokens}, func(k, v []byte) error {
				n++
				// Who is cached already is numbered again: a number
				// stands for one person and name, not each person for
				// one number.
				cache.push(k, nameOf(v))
				after = append(after[:0], k...)
				return nil
			})
		})
		if err != nil {
			return err
		}
		if n < rowPageTokens {
			break
		}
	}
	cache.reindex()
	return nil
}

// get is the person's name and email and their number in the cache (0 when
// the cache is full and they are not in it).
func (n *rowNames) get(id []byte) (nameEmail, int) {
	key, short := keyOf(id)
	r := n.cache.recentSlot(id)
	if r.ref > 0 && r.is(id, key, short) {
		return r.v, r.ref
	}
	if i, ok := n.cache.find(id, key, short); ok {
		*r = *n.cache.person(i)
		return r.v, r.ref
	}
	n.misses++
	v := unknownName
	if data, err := n.t.Get(bucketUsers, id); err == nil && data != nil {
		v = nameOf(data)
	}
	return v, n.cache.add(id, v)
}

// unknownName is what EachToken shows for a missing or damaged record.
var unknownName = nameEmail{name: "(unknown)"}

// nameOf is the name and email in a user record.
func nameOf(data []byte) nameEmail {
	if name, email, ok := quickNameEmail(data); ok {
		return nameEmail{name, email}
	}
	if u, err := decodeUser(data); err == nil {
		return nameEmail{u.Name, u.Email}
	}
	return unknownName
}

// quickNameEmail reads the name and email of a user record as encodeUser
// writes it, {"id":"…","name":"…","email":"…","role":"…",…}, when no field up
// to the role needs unescaping, the id is present and the role valid (what
// decodeUser checks); ok is false otherwise and the caller decodes the record.
func quickNameEmail(data []byte) (name, email string, ok bool) {
	rest, ok := cutPrefix(data, `{"id":"`)
	id, rest, ok2 := plainString(rest)
	rest, ok3 := cutPrefix(rest, `,"name":"`)
	nm, rest, ok4 := plainString(rest)
	rest, ok5 := cutPrefix(rest, `,"email":"`)
	em, rest, ok6 := plainString(rest)
	rest, ok7 := cutPrefix(rest, `,"role":"`)
	role, _, ok8 := plainString(rest)
	if !ok || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !ok7 || !ok8 || len(id) == 0 ||
		!models.Role(role).Valid() || data[len(data)-1] != '}' {
		return "", "", false
	}
	both := string(nm) + string(em) // one allocation for the two
	return both[:len(nm)], both[len(nm):], true
}

func cutPrefix(b []byte, p string) ([]byte, bool) {
	if len(b) < len(p) || string(b[:len(p)]) != p {
		return b, false
	}
	return b[len(p):], true
}

// plainString returns the JSON string body before the next quote, and what
// follows the quote; ok is false when it has an escape or no end.
func plainString(b []byte) (s, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '"')
	if i < 0 || bytes.IndexByte(b[:i], '\\') >= 0 {
		return nil, b, false
	}
	return b[:i], b[i+1:], true
}
