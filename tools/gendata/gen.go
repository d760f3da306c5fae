package main

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The headers of dataset_16, without their line ending.
const (
	customersHeader    = "customer_id,name,phone_number,address,email,credit_score,annual_income"
	cardsHeader        = "card_id,customer_id,card_type_id,card_number,expiration_date,credit_limit,current_balance,issue_date"
	transactionsHeader = "transaction_id,card_id,merchant_name,timestamp,amount,location,transaction_type,related_transaction_id"
)

// cardTypesCSV is dataset_16's credit_card_types.csv with LF line endings.
const cardTypesCSV = `card_type_id,name,credit_score_min,credit_score_max,credit_limit_min,credit_limit_max,annual_fee,rewards_rate
1,Basic,580,669,1000,5000,0,0.005
2,Gold,670,739,5000,10000,95,0.01
3,Platinum,740,799,10000,25000,195,0.02
4,Diamond,800,850,25000,50000,495,0.03
5,Black,800,850,50000,100000,695,0.05
`

// cardTypes are the limit ranges of credit_card_types.csv in dollars, and how
// often each type occurs among dataset_16's cards.
var cardTypes = []struct {
	minLimit, maxLimit int64
	weight             int
}{
	{1000, 5000, 12}, {5000, 10000, 16}, {10000, 25000, 13}, {25000, 50000, 10}, {50000, 100000, 8},
}

// Transaction kinds, indexes into kinds.
const (
	purchase = iota
	billPayment
	wireTransfer
	p2pTransfer
	atmWithdrawal
	refund
	cancellation
)

// kinds are the transaction types with their count among dataset_16's 402
// transactions and the range of their usual absolute amount in cents.
var kinds = []struct {
	name     string
	weight   int
	min, max int64
}{
	purchase:      {"purchase", 67, 10_00, 300_00},
	billPayment:   {"bill_payment", 61, 50_00, 500_00},
	wireTransfer:  {"wire_transfer", 70, 50_00, 500_00},
	p2pTransfer:   {"p2p_transfer", 68, 50_00, 500_00},
	atmWithdrawal: {"atm_withdrawal", 64, 20_00, 200_00},
	refund:        {"refund", 70, 5_00, 500_00},
	cancellation:  {"cancellation", 2, 0, 0},
}

const (
	// outOfStateRate is the share of merchants outside NY (37 of 402).
	outOfStateRate = 0.092
	// outlierRate is the share of charges multiplied by outlierFactor, the
	// legacy anomalies. dataset_16 has 19 in 330 charges, many of them on
	// small limits; 8% brings "large amount" declines to about 1.6% of
	// transactions (dataset_16: 9 of 402).
	outlierRate   = 0.08
	outlierFactor = 15
	// negativeRate is the share of charges written with a wrong sign.
	negativeRate = 0.006
	// creditFrom is the card utilisation above which statement credits start;
	// their probability grows by creditSlope per unit of utilisation above it, up to creditMax.
	creditFrom, creditSlope, creditMax = 0.5, 2.0, 0.9
	// creditMinShare and creditMaxShare bound a statement credit as a share of
	// the limit; below 0.5 so that it is never a "large amount".
	creditMinShare, creditMaxShare = 0.25, 0.45
	// perCustomerPerDay is how many transactions a customer makes a day
	// (about 100 a day for 30 customers); it sets the timestamp spacing.
	perCustomerPerDay = 3.35
)

// start is the first day of the transactions, as in dataset_16.
var start = time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)

// card is what the transaction generator knows of a card.
type card struct {
	limit, pending int64 // cents; pending starts at the current balance
	homeDigit      byte  // first digit of the customer's ZIP

	// The last purchase not yet cancelled: its id (0 if none), amount and
	// CSV fields, so that a cancellation can repeat them.
	lastID                     int
	lastAmount                 int64
	lastMerchant, lastLocation []byte
	lastDigit                  byte
}

// generator draws every value from one PCG source, in a fixed order.
type generator struct {
	rng        *rand.Rand
	homeDigits []byte // first ZIP digit of each customer
	cards      []card
	eol        string // line ending: "\n", or "\r\n" like dataset_16
}

// generate writes the four files of cfg into cfg.out.
func generate(cfg config) error {
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return err
	}
	g := &generator{rng: rand.New(rand.NewPCG(cfg.seed, 0x9e3779b97f4a7c15)), eol: "\n"}
	if cfg.crlf {
		g.eol = "\r\n"
	}
	types := strings.ReplaceAll(cardTypesCSV, "\n", g.eol)
	if err := os.WriteFile(filepath.Join(cfg.out, "credit_card_types.csv"), []byte(types), 0o644); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(cfg.out, "customers.csv"), func(w *bufio.Writer) {
		g.writeCustomers(w, cfg.customers)
	}); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(cfg.out, "cards.csv"), func(w *bufio.Writer) {
		g.writeCards(w, cfg.cards)
	}); err != nil {
		return err
	}
	if cfg.transactions > 0 && len(g.cards) == 0 {
		return fmt.Errorf("no cards to attach %d transactions to", cfg.transactions)
	}
	return writeFile(filepath.Join(cfg.out, "transactions.csv"), func(w *bufio.Writer) {
		g.writeTransactions(w, cfg.transactions, cfg.customers)
	})
}

// writeFile creates path and fills it through a buffered writer, whose
// sticky error fill may ignore.
func writeFile(path string, fill func(*bufio.Writer)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fill(w)
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeCustomers writes n customers, all living in NY like dataset_16's.
func (g *generator) writeCustomers(w *bufio.Writer, n int) {
	w.WriteString(customersHeader + g.eol)
	b := make([]byte, 0, 256)
	g.homeDigits = make([]byte, n)
	for id := 1; id <= n; id++ {
		b = strconv.AppendInt(b[:0], int64(id), 10)
		b = append(b, ',')
		b = append(b, pick(g.rng, firstNames)...)
		b = append(b, ' ')
		b = append(b, pick(g.rng, lastNames)...)
		b = append(b, ',')
		b = g.appendPhone(b)
		b = append(b, ',')
		var digit byte
		b, digit = g.appendAddress(b, false)
		g.homeDigits[id-1] = digit
		b = append(b, ',')
		b = g.appendEmail(b)
		b = append(b, ',')
		b = strconv.AppendInt(b, 580+g.rng.Int64N(271), 10)
		b = append(b, ',')
		income := math.Exp(math.Log(80000) + 0.55*g.rng.NormFloat64())
		income = math.Round(min(max(income, 20000), 500000)/100) * 100
		b = appendMoney(b, int64(income)*100)
		b = append(b, g.eol...)
		w.Write(b)
	}
}

// writeCards writes n cards (0: 1 to 3 per customer), grouped by customer.
func (g *generator) writeCards(w *bufio.Writer, n int) {
	w.WriteString(cardsHeader + g.eol)
	counts := g.cardCounts(n)
	b := make([]byte, 0, 256)
	id := 0
	for cust, count := range counts {
		for range count {
			id++
			t := pickFrom(g.rng, cardTypeTable)
			ct := cardTypes[t]
			limit := (ct.minLimit + 100*g.rng.Int64N((ct.maxLimit-ct.minLimit)/100+1)) * 100
			balance := g.rng.Int64N(limit/20 + 1)
			g.cards = append(g.cards, card{limit: limit, pending: balance, homeDigit: g.homeDigits[cust]})

			b = strconv.AppendInt(b[:0], int64(id), 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(cust+1), 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(t+1), 10)
			b = append(b, ',')
			b = g.appendCardNumber(b)
			b = append(b, ',')
			b = append2(b, 1+g.rng.Int64N(12))
			b = append(b, '/')
			b = append2(b, 25+int64(pickFrom(g.rng, expiryYearTable)))
			b = append(b, ',')
			b = appendMoney(b, limit)
			b = append(b, ',')
			b = appendMoney(b, balance)
			b = append(b, ',')
			b = time.Date(2022, 5, 1+g.rng.IntN(1030), 0, 0, 0, 0, time.UTC).AppendFormat(b, "2006-01-02")
			b = append(b, g.eol...)
			w.Write(b)
		}
	}
}

// cardCounts says how many cards each customer holds: 1 to 3 each when n is
// 0, else n in total, every customer getting one before any gets a second.
func (g *generator) cardCounts(n int) []int {
	counts := make([]int, len(g.homeDigits))
	if n == 0 {
		for i := range counts {
			counts[i] = 1 + g.rng.IntN(3)
		}
		return counts
	}
	for i := 0; i < n && i < len(counts); i++ {
		counts[i] = 1
	}
	if n < len(counts) {
		g.rng.Shuffle(len(counts), func(i, j int) { counts[i], counts[j] = counts[j], counts[i] })
	}
	for range n - len(counts) {
		counts[g.rng.IntN(len(counts))]++
	}
	return counts
}

// writeTransactions writes n transactions in timestamp order, spaced as if
// each of the customers made perCustomerPerDay transactions a day.
func (g *generator) writeTransactions(w *bufio.Writer, n, customers int) {
	w.WriteString(transactionsHeader + g.eol)
	meanGap := 86400 / (perCustomerPerDay * float64(customers))
	clk := clock{sec: start.Unix(), day: -1}
	b := make([]byte, 0, 512)
	var merchantBuf, locationBuf []byte // scratch, never aliased by a card
	for id := 1; id <= n; id++ {
		clk.sec += int64(g.rng.ExpFloat64() * meanGap)
		cardIdx := g.rng.IntN(len(g.cards))
		c := &g.cards[cardIdx]
		kind := g.pickKind(c)
		if kind == cancellation && c.lastID == 0 {
			kind = refund
		}

		var merchant, location []byte
		var amount int64
		var digit byte
		related := 0
		if kind == cancellation {
			merchant, location, digit = c.lastMerchant, c.lastLocation, c.lastDigit
			amount, related = -c.lastAmount, c.lastID
			c.lastID = 0
		} else {
			merchantBuf = g.appendMerchant(merchantBuf[:0])
			locationBuf, digit = g.appendAddress(locationBuf[:0], g.rng.Float64() < outOfStateRate)
			merchant, location = merchantBuf, locationBuf
			amount = g.amount(c, kind)
			if kind == creditKind {
				kind = refund
			}
			if kind == purchase && amount > 0 {
				c.lastID, c.lastAmount, c.lastDigit = id, amount, digit
				c.lastMerchant = append(c.lastMerchant[:0], merchant...)
				c.lastLocation = append(c.lastLocation[:0], location...)
			}
		}
		c.validate(kind, amount, digit)

		b = strconv.AppendInt(b[:0], int64(id), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(cardIdx+1), 10)
		b = append(b, ',')
		b = append(b, merchant...)
		b = append(b, ',')
		b = clk.append(b)
		b = append(b, ',')
		b = appendMoney(b, amount)
		b = append(b, ',')
		b = append(b, location...)
		b = append(b, ',')
		b = append(b, kinds[kind].name...)
		b = append(b, ',')
		if related > 0 {
			b = strconv.AppendInt(b, int64(related), 10)
		}
		b = append(b, g.eol...)
		w.Write(b)
	}
}

// creditKind marks a statement credit: a refund sized on the card's limit.
const creditKind = -1

// pickKind draws a transaction kind for c, or creditKind when c is more than
// creditFrom used and a statement credit is due.
func (g *generator) pickKind(c *card) int {
	if u := float64(c.pending) / float64(c.limit); u > creditFrom {
		if g.rng.Float64() < min(creditMax, (u-creditFrom)*creditSlope) {
			return creditKind
		}
	}
	return pickFrom(g.rng, kindTable)
}

// amount draws the signed amount in cents of a transaction of kind on c.
func (g *generator) amount(c *card, kind int) int64 {
	if kind == creditKind {
		share := creditMinShare + (creditMaxShare-creditMinShare)*g.rng.Float64()
		return -int64(share * float64(c.limit))
	}
	k := kinds[kind]
	a := k.min + g.rng.Int64N(k.max-k.min+1)
	if kind == refund {
		return -a
	}
	if g.rng.Float64() < outlierRate {
		a *= outlierFactor
	}
	if g.rng.Float64() < negativeRate {
		a = -a
	}
	return a
}

// validate applies the legacy validation rules to a transaction on c, in
// their order, and adds the amount to the pending balance if it passes: a
// negative charge, an amount of at least half the limit, a merchant whose ZIP
// starts with another digit than the customer's, or a balance over the limit
// is declined.
func (c *card) validate(kind int, amount int64, merchantDigit byte) {
	switch {
	case amount < 0 && kind != refund && kind != cancellation:
	case 2*abs(amount) >= c.limit:
	case merchantDigit != c.homeDigit:
	case c.pending+amount > c.limit:
	default:
		c.pending += amount
	}
}

// clock formats Unix seconds as "2006-01-02 15:04:05" in UTC, formatting the
// date only when the day changes.
type clock struct {
	sec, day int64
	date     []byte
}

func (c *clock) append(b []byte) []byte {
	if d := c.sec / 86400; d != c.day {
		c.day = d
		c.date = time.Unix(d*86400, 0).UTC().AppendFormat(c.date[:0], "2006-01-02")
	}
	b = append(b, c.date...)
	b = append(b, ' ')
	s := c.sec % 86400
	b = append2(b, s/3600)
	b = append(b, ':')
	b = append2(b, s/60%60)
	b = append(b, ':')
	return append2(b, s%60)
}

// appendMerchant appends a Faker-style company name, quoted when it holds a
// comma, in dataset_16's proportions.
func (g *generator) appendMerchant(b []byte) []byte {
	r := g.rng.IntN(402)
	switch {
	case r < 147:
		b = append(b, '"')
		b = append(b, pick(g.rng, lastNames)...)
		b = append(b, ", "...)
		b = append(b, pick(g.rng, lastNames)...)
		b = append(b, " and "...)
		b = append(b, pick(g.rng, lastNames)...)
		return append(b, '"')
	case r < 271:
		b = append(b, pick(g.rng, lastNames)...)
		b = append(b, '-')
		return append(b, pick(g.rng, lastNames)...)
	case r < 380:
		b = append(b, pick(g.rng, lastNames)...)
		b = append(b, ' ')
		return append(b, pick(g.rng, companySuffixes)...)
	default:
		b = append(b, pick(g.rng, lastNames)...)
		b = append(b, " and "...)
		return append(b, pick(g.rng, lastNames)...)
	}
}

// appendAddress appends a quoted street address ending in a 5-digit ZIP and
// returns the ZIP's first digit. Addresses in NY have ZIPs 10000 to 19999;
// out-of-state ones start with their state's digit.
func (g *generator) appendAddress(b []byte, away bool) ([]byte, byte) {
	b = append(b, '"')
	b = strconv.AppendInt(b, 100+g.rng.Int64N(9900), 10)
	b = append(b, ' ')
	if g.rng.IntN(2) == 0 {
		b = append(b, pick(g.rng, firstNames)...)
	} else {
		b = append(b, pick(g.rng, lastNames)...)
	}
	b = append(b, ' ')
	b = append(b, pick(g.rng, streetSuffixes)...)
	b = append(b, ", "...)
	state, digit := "NY", byte('1')
	if away {
		s := pickFrom(g.rng, outOfStateTable)
		state, digit = outOfState[s].code, outOfState[s].digit
		b = g.appendCity(b)
	} else {
		b = append(b, pick(g.rng, nyCities)...)
	}
	b = append(b, ", "...)
	b = append(b, state...)
	b = append(b, ' ', digit)
	zip := g.rng.Int64N(10000)
	b = append2(b, zip/100)
	b = append2(b, zip%100)
	return append(b, '"'), digit
}

// appendCity appends a Faker-style city name such as "West Jeffreytown",
// "Mejiamouth" or "New John".
func (g *generator) appendCity(b []byte) []byte {
	switch g.rng.IntN(4) {
	case 0:
		b = append(b, pick(g.rng, cityPrefixes)...)
		b = append(b, ' ')
		b = append(b, pick(g.rng, firstNames)...)
		return append(b, pick(g.rng, citySuffixes)...)
	case 1:
		b = append(b, pick(g.rng, cityPrefixes)...)
		b = append(b, ' ')
		return append(b, pick(g.rng, firstNames)...)
	case 2:
		b = append(b, pick(g.rng, firstNames)...)
		return append(b, pick(g.rng, citySuffixes)...)
	default:
		b = append(b, pick(g.rng, lastNames)...)
		return append(b, pick(g.rng, citySuffixes)...)
	}
}

// appendPhone appends a number like 210-503-5948.
func (g *generator) appendPhone(b []byte) []byte {
	b = strconv.AppendInt(b, 200+g.rng.Int64N(800), 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, 200+g.rng.Int64N(800), 10)
	b = append(b, '-')
	n := g.rng.Int64N(10000)
	b = append2(b, n/100)
	return append2(b, n%100)
}

// appendEmail appends an address like john30@example.com, unrelated to the
// customer's name as in dataset_16.
func (g *generator) appendEmail(b []byte) []byte {
	first, last := pick(g.rng, firstNames), pick(g.rng, lastNames)
	switch g.rng.IntN(4) {
	case 0:
		b = appendLower(b, first)
		b = append2(b, g.rng.Int64N(100))
	case 1:
		b = appendLower(b, first)
		b = appendLower(b, last)
	case 2:
		b = appendLower(b, first[:1])
		b = appendLower(b, last)
	default:
		b = appendLower(b, last)
		b = appendLower(b, first)
	}
	b = append(b, '@')
	return append(b, pick(g.rng, emailDomains)...)
}

// appendCardNumber appends four groups of four digits such as
// 5146-1569-7639-3423.
func (g *generator) appendCardNumber(b []byte) []byte {
	for _, ch := range []byte(pick(g.rng, cardPrefixes)) {
		if ch == 'x' {
			ch = '0' + byte(g.rng.IntN(10))
		}
		b = append(b, ch)
	}
	for range 3 {
		n := g.rng.Int64N(10000)
		b = append(b, '-')
		b = append2(b, n/100)
		b = append2(b, n%100)
	}
	return b
}

// appendMoney appends cents the way Python prints a float rounded to cents:
// 7500.0, 183.8, -122.74.
func appendMoney(b []byte, cents int64) []byte {
	if cents < 0 {
		b = append(b, '-')
		cents = -cents
	}
	b = strconv.AppendInt(b, cents/100, 10)
	b = append(b, '.')
	frac := cents % 100
	if frac%10 == 0 {
		return append(b, byte('0'+frac/10))
	}
	return append2(b, frac)
}

// append2 appends n (0 to 99) as two digits.
func append2(b []byte, n int64) []byte {
	return append(b, byte('0'+n/10), byte('0'+n%10))
}

func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		b = append(b, ch)
	}
	return b
}

func pick(rng *rand.Rand, words []string) string {
	return words[rng.IntN(len(words))]
}

// Weighted draws: each table holds every index as many times as its weight.
var (
	kindTable       = weightTable(len(kinds), func(i int) int { return kinds[i].weight })
	cardTypeTable   = weightTable(len(cardTypes), func(i int) int { return cardTypes[i].weight })
	outOfStateTable = weightTable(len(outOfState), func(i int) int { return outOfState[i].weight })
	// expiryYearTable draws the years 25 to 28 of card expirations.
	expiryYearTable = weightTable(4, func(i int) int { return [...]int{8, 22, 20, 9}[i] })
)

func weightTable(n int, weight func(int) int) []int {
	var t []int
	for i := range n {
		for range weight(i) {
			t = append(t, i)
		}
	}
	return t
}

func pickFrom(rng *rand.Rand, table []int) int {
	return table[rng.IntN(len(table))]
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
