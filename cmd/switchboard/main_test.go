package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func TestParseConfigDefaultsEnvAndFlags(t *testing.T) {
	for _, k := range []string{"DATABASE_URL", "SWITCHBOARD_DATA_DIR", "SWITCHBOARD_ADDR", "SWITCHBOARD_BASE_URL"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	cfg, err := parseConfig("serve", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseURL != filepath.Join("data", "switchboard.db") || cfg.Addr != "127.0.0.1:8080" || cfg.BaseURL != "http://127.0.0.1:8080" {
		t.Fatalf("defaults: %+v", cfg)
	}
	t.Setenv("SWITCHBOARD_ADDR", "127.0.0.1:9000")
	t.Setenv("SWITCHBOARD_BASE_URL", "https://sb.example.com/")
	cfg, err = parseConfig("serve", []string{"-addr", "127.0.0.1:9001"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9001" || cfg.BaseURL != "https://sb.example.com" {
		t.Fatalf("env then flags: %+v", cfg)
	}
	if _, err := parseConfig("serve", []string{"-no-such-flag"}); err == nil {
		t.Fatal("an unknown flag was accepted")
	}
}

func TestSessionKey(t *testing.T) {
	dir := t.TempDir()
	cfg := config{DataDir: dir, DatabaseURL: filepath.Join(dir, "switchboard.db")}
	first, err := sessionKey(cfg)
	if err != nil || len(first) < 32 {
		t.Fatalf("generated key %q, %v", first, err)
	}
	again, err := sessionKey(cfg)
	if err != nil || string(again) != string(first) {
		t.Fatal("the generated key is not kept in the data folder")
	}
	if fi, err := os.Stat(filepath.Join(dir, "session.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	if _, err := sessionKey(config{SessionKey: "short"}); err == nil {
		t.Fatal("a short key was accepted")
	}
	if _, err := sessionKey(config{DatabaseURL: "postgres://x@localhost/db"}); err == nil {
		t.Fatal("PostgreSQL without a session key was accepted")
	}
}

func TestMigrateCommand(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SWITCHBOARD_DATA_DIR", dir)
	t.Setenv("DATABASE_URL", "")
	os.Unsetenv("DATABASE_URL")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := run(context.Background(), []string{"migrate"}, log); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "switchboard.db")); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"nonsense"}, log); err == nil {
		t.Fatal("an unknown command ran")
	}
}

func TestRedact(t *testing.T) {
	if got := redact("postgres://u:secret@db:5432/x"); got != "postgres://u:***@db:5432/x" {
		t.Fatal(got)
	}
	if got := redact("postgres://u@db/x"); got != "postgres://u@db/x" {
		t.Fatal(got)
	}
}
