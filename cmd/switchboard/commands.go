package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"switchboard/models/billing"
	"switchboard/models/ratelimit"
	"switchboard/models/sso"
)

// The operator's subcommands: limits, sso and billing.

// setLimits is `switchboard limits set`: an operator gives an account its
// own API limits, as Enterprise agreements do. A limit left out (or -1)
// goes back to the plan's.
func setLimits(ctx context.Context, cfg config, args []string, log *slog.Logger) error {
	if len(args) == 0 || args[0] != "set" {
		return errors.New("usage: switchboard limits set -account ID|SLUG [-per-minute N] [-per-day N]")
	}
	fs := flag.NewFlagSet("limits set", flag.ContinueOnError)
	account := fs.String("account", "", "the account's public ID or slug")
	perMinute := fs.Int64("per-minute", -1, "requests per minute (-1: the plan's)")
	perDay := fs.Int64("per-day", -1, "requests per day (-1: the plan's)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *account == "" {
		return errors.New("-account is required")
	}
	opt := func(v int64) *int64 {
		if v < 0 {
			return nil
		}
		return &v
	}
	db, err := openDB(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeDB(db)
	acct, err := ratelimit.SetAccountLimits(ctx, db, *account, opt(*perMinute), opt(*perDay))
	if err != nil {
		return fmt.Errorf("account %q: %w", *account, err)
	}
	l := ratelimit.LimitsOf(acct)
	log.Info("limits set", "account", acct.PublicID, "name", acct.Name, "per_minute", l.PerMinute, "per_day", l.PerDay)
	return nil
}

// ssoCommand is `switchboard sso verify-domain -account ID|SLUG -domain D`:
// a self-hosted operator proves an organization's domain without DNS.
func ssoCommand(ctx context.Context, cfg config, args []string, log *slog.Logger) error {
	const usage = "usage: switchboard sso verify-domain -account ID|SLUG -domain DOMAIN"
	if len(args) == 0 || args[0] != "verify-domain" {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("sso verify-domain", flag.ContinueOnError)
	account := fs.String("account", "", "the organization's public ID or slug")
	domain := fs.String("domain", "", "a domain the organization listed in its single sign-on settings")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *account == "" || *domain == "" {
		return errors.New(usage)
	}
	db, err := openDB(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeDB(db)
	acct, err := sso.ProveSSODomainByOperator(ctx, db, *account, *domain, "switchboard sso verify-domain")
	if err != nil {
		return fmt.Errorf("account %q: %w", *account, err)
	}
	log.Info("domain proved", "account", acct.PublicID, "name", acct.Name, "domain", *domain)
	return nil
}

// billingCommand is `switchboard billing close -month YYYY-MM`.
func billingCommand(ctx context.Context, cfg config, args []string, log *slog.Logger) error {
	if len(args) == 0 || args[0] != "close" {
		return errors.New("usage: switchboard billing close -month YYYY-MM")
	}
	fs := flag.NewFlagSet("billing close", flag.ContinueOnError)
	month := fs.String("month", "", "the month to close, e.g. 2026-10 (it must have ended)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	m, err := billing.ParseMonth(*month)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeDB(db)
	if err := billing.SnapshotStorage(ctx, db, time.Now()); err != nil {
		return err
	}
	created, err := billing.CloseMonth(ctx, db, m, time.Now())
	if err != nil {
		return err
	}
	log.Info("month closed", "month", m.String(), "invoices_created", created)
	return nil
}
