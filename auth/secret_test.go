package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSecretHash(t *testing.T) {
	phc, err := HashSecret("otp-123456")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(phc, "otp-123456") || !strings.HasPrefix(phc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q", phc)
	}
	if ok, err := VerifySecret(phc, "otp-123456"); !ok || err != nil {
		t.Fatalf("right secret: %v %v", ok, err)
	}
	if ok, _ := VerifySecret(phc, "otp-123457"); ok {
		t.Fatal("wrong secret accepted")
	}
	again, _ := HashSecret("otp-123456")
	if again == phc {
		t.Fatal("two hashes of one secret are equal: no salt")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=1,t=0,p=1$AA$AA", "$argon2id$v=19$m=1,t=1,p=1$!!$AA"} {
		if _, err := VerifySecret(bad, "x"); err == nil {
			t.Errorf("VerifySecret(%q) accepted a malformed hash", bad)
		}
	}
}

// TestSecretChecksAreBounded holds every slot from the test: a further check
// queues only while the queue has room and only for the wait, then fails
// with ErrBusy; a slot given back is taken by the next check.
func TestSecretChecksAreBounded(t *testing.T) {
	ctx := context.Background()
	noQueue := NewSecretChecks(2, 0, time.Hour)
	first, err := noQueue.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second, err := noQueue.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noQueue.Acquire(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("third check with two slots and no queue: %v, want ErrBusy at once", err)
	}
	first()
	first() // giving a slot back twice frees it once
	third, err := noQueue.Acquire(ctx)
	if err != nil {
		t.Fatalf("check after a slot was given back: %v", err)
	}
	if _, err := noQueue.Acquire(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("a slot given back twice was freed twice: %v", err)
	}
	second()
	third()

	shortWait := NewSecretChecks(1, 1, time.Millisecond)
	held, err := shortWait.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := shortWait.Acquire(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("queued check whose wait ran out: %v, want ErrBusy", err)
	}
	busy := NewSecretChecks(1, 1, time.Hour)
	if _, err := busy.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := busy.Acquire(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("queued check whose request ended: %v, want context.Canceled", err)
	}

	waiter := NewSecretChecks(1, 1, time.Hour)
	release, err := waiter.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		r, err := waiter.Acquire(ctx)
		if err == nil {
			r()
		}
		got <- err
	}()
	release() // whether the other check queued yet or not, it gets this slot
	if err := <-got; err != nil {
		t.Fatalf("queued check after the slot was given back: %v", err)
	}
	held()
}
