package main

import (
	"bytes"
	"encoding/csv"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// legacyHeaders are the header rows of dataset_16, written out here so that
// the test does not compare the generator with itself.
var legacyHeaders = map[string]string{
	"customers.csv":         "customer_id,name,phone_number,address,email,credit_score,annual_income",
	"cards.csv":             "card_id,customer_id,card_type_id,card_number,expiration_date,credit_limit,current_balance,issue_date",
	"credit_card_types.csv": "card_type_id,name,credit_score_min,credit_score_max,credit_limit_min,credit_limit_max,annual_fee,rewards_rate",
	"transactions.csv":      "transaction_id,card_id,merchant_name,timestamp,amount,location,transaction_type,related_transaction_id",
}

// dataset is the four files of one run, parsed.
type dataset map[string][][]string

func generateTo(t *testing.T, cfg config) (string, dataset) {
	t.Helper()
	cfg.out = t.TempDir()
	if cfg.customers == 0 {
		cfg.customers = max(30, cfg.transactions/1000)
	}
	if err := generate(cfg); err != nil {
		t.Fatal(err)
	}
	ds := dataset{}
	for name := range legacyHeaders {
		raw, err := os.ReadFile(filepath.Join(cfg.out, name))
		if err != nil {
			t.Fatal(err)
		}
		lines, crlf := bytes.Count(raw, []byte("\n")), bytes.Count(raw, []byte("\r\n"))
		if cfg.crlf && (crlf != lines || !bytes.HasSuffix(raw, []byte("\r\n"))) {
			t.Errorf("%s: %d of %d lines end in CR LF, want all", name, crlf, lines)
		}
		if !cfg.crlf && (bytes.ContainsRune(raw, '\r') || !bytes.HasSuffix(raw, []byte("\n"))) {
			t.Errorf("%s: not LF line endings", name)
		}
		rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ds[name] = rows
	}
	return cfg.out, ds
}

func TestGenerateShape(t *testing.T) {
	dir, ds := generateTo(t, config{transactions: 1000, seed: 16})

	for name, want := range legacyHeaders {
		if got := strings.Join(ds[name][0], ","); got != want {
			t.Errorf("%s header = %q, want %q", name, got, want)
		}
	}
	legacy, err := os.ReadFile("../../dataset_16/credit_card_types.csv")
	if err == nil {
		got, _ := os.ReadFile(filepath.Join(dir, "credit_card_types.csv"))
		if !bytes.Equal(got, bytes.ReplaceAll(legacy, []byte("\r\n"), []byte("\n"))) {
			t.Errorf("credit_card_types.csv differs from dataset_16's")
		}
	}

	customers, cards, types, txs := ds["customers.csv"][1:], ds["cards.csv"][1:], ds["credit_card_types.csv"][1:], ds["transactions.csv"][1:]
	if len(customers) != 30 || len(types) != 5 || len(txs) != 1000 {
		t.Fatalf("rows: %d customers, %d types, %d transactions; want 30, 5, 1000", len(customers), len(types), len(txs))
	}
	if len(cards) < 30 || len(cards) > 90 {
		t.Errorf("%d cards, want 1 to 3 per customer", len(cards))
	}

	zip := regexp.MustCompile(`^\d{3,4} [A-Za-z ]+, [A-Za-z ]+, [A-Z]{2} \d{5}$`)
	money := regexp.MustCompile(`^-?\d+\.\d{1,2}$`)
	for _, c := range customers {
		if !zip.MatchString(c[3]) || !money.MatchString(c[6]) {
			t.Errorf("customer %v: bad address or income", c)
		}
	}

	customerIDs, typeIDs, cardIDs := ids(customers), ids(types), ids(cards)
	number := regexp.MustCompile(`^\d{4}-\d{4}-\d{4}-\d{4}$`)
	expiry := regexp.MustCompile(`^(0[1-9]|1[0-2])/\d\d$`)
	for _, c := range cards {
		if !customerIDs[c[1]] || !typeIDs[c[2]] {
			t.Errorf("card %s: unknown customer %s or type %s", c[0], c[1], c[2])
		}
		if !number.MatchString(c[3]) || !expiry.MatchString(c[4]) || !money.MatchString(c[5]) || !money.MatchString(c[6]) {
			t.Errorf("card %v: bad format", c)
		}
	}

	cardOf := map[string]string{} // transaction id -> card id
	cancellations := 0
	var last time.Time
	for i, tx := range txs {
		if want := strconv.Itoa(i + 1); tx[0] != want {
			t.Fatalf("transaction %d has id %s", i+1, tx[0])
		}
		if !cardIDs[tx[1]] {
			t.Errorf("transaction %s: unknown card %s", tx[0], tx[1])
		}
		ts, err := time.Parse(time.DateTime, tx[3])
		if err != nil {
			t.Fatalf("transaction %s: %v", tx[0], err)
		}
		if ts.Before(last) {
			t.Errorf("transaction %s: timestamp %s before %s", tx[0], tx[3], last)
		}
		last = ts
		if !money.MatchString(tx[4]) || !zip.MatchString(tx[5]) {
			t.Errorf("transaction %v: bad amount or location", tx)
		}
		if tx[6] == "cancellation" {
			cancellations++
			if cardOf[tx[7]] != tx[1] {
				t.Errorf("cancellation %s of card %s names %q, not an earlier transaction of the card", tx[0], tx[1], tx[7])
			}
		} else if tx[7] != "" {
			t.Errorf("%s %s has related_transaction_id %s", tx[6], tx[0], tx[7])
		}
		cardOf[tx[0]] = tx[1]
	}
	if cancellations == 0 {
		t.Errorf("no cancellations in %d transactions", len(txs))
	}
}

func TestGenerateCardCount(t *testing.T) {
	for _, tc := range []struct{ customers, cards, holders int }{
		{customers: 10, cards: 25, holders: 10},
		{customers: 10, cards: 4, holders: 4},
	} {
		_, ds := generateTo(t, config{transactions: 100, customers: tc.customers, cards: tc.cards, seed: 3})
		cards := ds["cards.csv"][1:]
		holders := map[string]bool{}
		prev := 0
		for _, c := range cards {
			id, _ := strconv.Atoi(c[1])
			if id < prev || id < 1 || id > tc.customers {
				t.Errorf("card %s: customer %s out of order or range", c[0], c[1])
			}
			prev = id
			holders[c[1]] = true
		}
		if len(cards) != tc.cards || len(holders) != tc.holders {
			t.Errorf("-customers %d -cards %d: %d cards held by %d customers, want %d by %d",
				tc.customers, tc.cards, len(cards), len(holders), tc.cards, tc.holders)
		}
	}
}

// TestGenerateCRLF checks that -crlf gives dataset_16's line endings, and its
// credit_card_types.csv byte for byte when the repository holds dataset_16.
func TestGenerateCRLF(t *testing.T) {
	dir, _ := generateTo(t, config{transactions: 100, seed: 16, crlf: true}) // checks the line endings
	legacy, err := os.ReadFile("../../dataset_16/credit_card_types.csv")
	if err != nil {
		t.Skip("no dataset_16 in the repository:", err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "credit_card_types.csv"))
	if !bytes.Equal(got, legacy) {
		t.Errorf("credit_card_types.csv differs from dataset_16's")
	}
}

func ids(rows [][]string) map[string]bool {
	m := make(map[string]bool, len(rows))
	for _, r := range rows {
		m[r[0]] = true
	}
	return m
}

func TestGenerateDeterministic(t *testing.T) {
	read := func(dir string) [][]byte {
		var files [][]byte
		for _, name := range slices.Sorted(maps.Keys(legacyHeaders)) {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, b)
		}
		return files
	}
	a, _ := generateTo(t, config{transactions: 1000, seed: 7})
	b, _ := generateTo(t, config{transactions: 1000, seed: 7})
	c, _ := generateTo(t, config{transactions: 1000, seed: 8})
	fa, fb, fc := read(a), read(b), read(c)
	for i := range fa {
		if !bytes.Equal(fa[i], fb[i]) {
			t.Errorf("file %d differs between two runs with the same seed", i)
		}
	}
	if bytes.Equal(fa[3], fc[3]) {
		t.Errorf("transactions are the same for seeds 7 and 8")
	}
}

// TestRuleFractions evaluates the legacy validation rules over a generated
// file, independently of the generator, and checks that every reason fires
// and that about 85% to 92% of transactions pass.
func TestRuleFractions(t *testing.T) {
	_, ds := generateTo(t, config{transactions: 20000, seed: 16})
	firstZip := regexp.MustCompile(`\b\d{5}\b`)
	home := map[string]string{}
	for _, c := range ds["customers.csv"][1:] {
		home[c[0]] = firstZip.FindString(c[3])
	}
	type cardState struct {
		limit, pending float64
		zip            string
	}
	cards := map[string]*cardState{}
	for _, c := range ds["cards.csv"][1:] {
		cards[c[0]] = &cardState{limit: parseFloat(t, c[5]), pending: parseFloat(t, c[6]), zip: home[c[1]]}
	}
	counts := map[string]int{}
	txs := ds["transactions.csv"][1:]
	for _, tx := range txs {
		c, amount, kind := cards[tx[1]], parseFloat(t, tx[4]), tx[6]
		merchantZip := firstZip.FindString(tx[5])
		switch {
		case amount < 0 && kind != "refund" && kind != "cancellation":
			counts["negative_amount"]++
		case math.Abs(amount) >= 0.5*c.limit:
			counts["large_amount"]++
		case c.zip != "" && merchantZip != "" && c.zip[0] != merchantZip[0]:
			counts["far_merchant"]++
		case c.pending+amount > c.limit:
			counts["over_limit"]++
		default:
			counts["pending"]++
			c.pending += amount
		}
	}
	for _, reason := range []string{"pending", "negative_amount", "large_amount", "far_merchant", "over_limit"} {
		frac := float64(counts[reason]) / float64(len(txs))
		t.Logf("%-16s %6d %6.2f%%", reason, counts[reason], 100*frac)
		if counts[reason] == 0 {
			t.Errorf("no transaction is %s", reason)
		}
	}
	if frac := float64(counts["pending"]) / float64(len(txs)); frac < 0.85 || frac > 0.92 {
		t.Errorf("%.1f%% pending, want 85%% to 92%%", 100*frac)
	}
}

func parseFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-out", "x", "-transactions", "1000000"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.customers != 1000 || cfg.cards != 0 || cfg.seed != 16 {
		t.Errorf("defaults = %+v", cfg)
	}
	for _, args := range [][]string{
		{"-transactions", "10"},
		{"-out", "x"},
		{"-out", "x", "-transactions", "10", "-customers", "-1"},
		{"-out", "x", "-transactions", "10", "extra"},
	} {
		if _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("parseFlags(%q) succeeded", args)
		}
	}
}

func TestAppendMoney(t *testing.T) {
	for cents, want := range map[int64]string{
		750000: "7500.0", 836: "8.36", -12274: "-122.74", 18380: "183.8", 5: "0.05", 0: "0.0",
	} {
		if got := string(appendMoney(nil, cents)); got != want {
			t.Errorf("appendMoney(%d) = %q, want %q", cents, got, want)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	dir := b.TempDir()
	for b.Loop() {
		if err := generate(config{out: dir, transactions: 100000, customers: 100, seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
