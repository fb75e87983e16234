package store

import "sync"

// Event tells subscribers that something changed after a commit. Consumers
// reload what they show; the event only says what to look at.
type Event struct {
	Type     string   // the audit type of the change, e.g. "token_revoked"
	UserIDs  []string // people affected (holders, targets, actors)
	TokenIDs []string
}

type eventHub struct {
	mu   sync.Mutex
	next int
	subs map[int]chan Event
}

// Subscribe returns a channel of change events and a function that ends the
// subscription. Delivery never blocks a writer: a subscriber that falls behind
// misses events, which is harmless because any event it still holds makes it
// reload state that is at least as new.
func (s *Store) Subscribe() (<-chan Event, func()) {
	h := &s.events
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = map[int]chan Event{}
	}
	id := h.next
	h.next++
	ch := make(chan Event, 32)
	h.subs[id] = ch
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			if c, ok := h.subs[id]; ok {
				delete(h.subs, id)
				close(c)
			}
		})
	}
}

func (h *eventHub) publish(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ch := range h.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

func (h *eventHub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, ch := range h.subs {
		close(ch)
		delete(h.subs, id)
	}
}
