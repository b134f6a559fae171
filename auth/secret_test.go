package auth

import (
	"strings"
	"testing"
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
