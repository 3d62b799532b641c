package control

import (
	"context"
	"sync"
	"time"

	"github.com/drawbridge/drawbridge/internal/store"
)

// Hub wakes waiters on a topic ("machine:<id>", "request:<id>"). A wake-up
// carries no data: the waiter re-reads the database, so a missed or merged
// wake-up costs nothing but latency. It is safe for concurrent use.
type Hub struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[string]map[chan struct{}]struct{}{}} }

// Subscribe returns a channel that receives (at most one pending) signal
// after each Publish on topic, and a cancel function that must be called.
func (h *Hub) Subscribe(topic string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs[topic] == nil {
		h.subs[topic] = map[chan struct{}]struct{}{}
	}
	h.subs[topic][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs[topic], ch)
		if len(h.subs[topic]) == 0 {
			delete(h.subs, topic)
		}
		h.mu.Unlock()
	}
}

// Has reports whether topic has a subscriber (for a machine: its agent is
// watching on this server right now).
func (h *Hub) Has(topic string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[topic]) > 0
}

// Publish wakes every subscriber of each topic.
func (h *Hub) Publish(topics ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range topics {
		for ch := range h.subs[t] {
			select {
			case ch <- struct{}{}:
			default: // already signalled
			}
		}
	}
}

func machineTopic(id string) string { return "machine:" + id }
func requestTopic(id string) string { return "request:" + id }

// update is the one way a use case writes: it runs fn in one read-write
// transaction (store.DB.Tx, retried as a whole on PostgreSQL) with the time
// of the attempt and, once it has committed, wakes the watchers of exactly
// the machines and requests the transaction changed (store.Tx.Changed).
// Nothing is woken when it fails, and a retried attempt's record replaces
// the failed one's.
func (s *Service) update(ctx context.Context, fn func(tx *store.Tx, now time.Time) error) error {
	return s.write(ctx, s.db.Tx, fn)
}

// updateRevocation is update for a change that only takes access away: it
// commits even while the disk is full (store.DB.TxRevocation).
func (s *Service) updateRevocation(ctx context.Context, fn func(tx *store.Tx, now time.Time) error) error {
	return s.write(ctx, s.db.TxRevocation, fn)
}

func (s *Service) write(ctx context.Context, run func(context.Context, func(*store.Tx) error) error, fn func(tx *store.Tx, now time.Time) error) error {
	var changed store.Changes
	err := run(ctx, func(tx *store.Tx) error {
		changed = store.Changes{}
		if err := fn(tx, s.now()); err != nil {
			return err
		}
		changed = tx.Changed()
		return nil
	})
	if err != nil {
		return err
	}
	s.wake(changed)
	return nil
}

// wake wakes the watchers of what a committed transaction changed: each
// machine's agent (WatchState) and whoever waits on each request
// (WaitApplied).
func (s *Service) wake(c store.Changes) {
	topics := make([]string, 0, len(c.Machines)+len(c.Requests))
	for _, id := range c.Machines {
		topics = append(topics, machineTopic(string(id)))
	}
	for _, id := range c.Requests {
		topics = append(topics, requestTopic(string(id)))
	}
	s.hub.Publish(topics...)
}
