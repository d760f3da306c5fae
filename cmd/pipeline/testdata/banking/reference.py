# Independent reference for the banking rules (docs/BANKING.md sections 2 and 3): recomputes
# the results with Python's exact decimals, without the engine. See README.md.
import csv, re, sys
from decimal import Decimal as D, ROUND_HALF_EVEN
import os
here=os.path.dirname(os.path.abspath(__file__))
ds=os.path.join(here,'../../../../dataset_16')
legacy = len(sys.argv)>1 and sys.argv[1]=='legacy'
cust={r['customer_id']:r for r in csv.DictReader(open(ds+'/customers.csv'))}
cards={r['card_id']:r for r in csv.DictReader(open(ds+'/cards.csv'))}
txs=list(csv.DictReader(open(ds+'/transactions.csv')))
def zip5(s):
    m=re.search(r'\b\d{5}\b', s or '')
    return m.group(0) if m else None
pend={k:D(c['current_balance']) for k,c in cards.items()}
from collections import Counter
cnt=Counter()
out=[]
for t in txs:
    c=cards[t['card_id']]; cu=cust[c['customer_id']]
    a=D(t['amount']); lim=D(c['credit_limit'])
    st='pending'; why=''
    if a<0 and t['transaction_type'] not in ('refund','cancellation'): st,why='declined','negative_amount'
    elif abs(a)>=D('0.5')*lim: st,why='declined','large_amount'
    else:
        z1=zip5(cu['address']); z2=zip5(t['location'])
        if z1 and z2 and z1[0]!=z2[0]: st,why='declined','far_merchant'
        elif pend[t['card_id']]+a>lim: st,why='declined','over_limit'
    if st=='pending': pend[t['card_id']]+=a
    cnt[st]+=1; cnt[why]+=1
    out.append((t,st,pend[t['card_id']]))
print(cnt)
bal={k:D(c['current_balance']) for k,c in cards.items()}
if legacy: bal=dict(pend)
for t,st,p in out:
    if st=='pending': bal[t['card_id']]+=D(t['amount'])
res={}; lims={}
for cid,cu in cust.items():
    cs=[k for k,c in cards.items() if c['customer_id']==cid]
    sb=sum((bal[k] for k in cs), D(0)); sl=sum((D(cards[k]['credit_limit']) for k in cs), D(0))
    u = sb/sl*100 if sl>0 else D(0)
    ch = 0 if u<0 else 15 if u<=10 else 10 if u<=20 else 5 if u<=30 else -5 if u<=50 else -15 if u<=70 else -25
    sc=int(cu['credit_score'])+ch
    if not legacy: sc=max(300,min(850,sc))
    res[cid]=(sc,ch)
    if ch<0:
        f=D('0.85') if ch<=-20 else D('0.90') if ch<=-10 else D('0.95')
        for k in cs:
            old=D(cards[k]['credit_limit']); nl=(old*f/100).quantize(D(1),ROUND_HALF_EVEN)*100
            nl=min(nl,old)
            lims[k]=nl
# compare legacy
if legacy:
    lc={r['card_id']:r for r in csv.DictReader(open(os.path.join(here,'../legacy/cards_updated.csv')))}
    lu={r['customer_id']:r for r in csv.DictReader(open(os.path.join(here,'../legacy/customers_updated.csv')))}
    bad=0
    for k in cards:
        if abs(D(lc[k]['current_balance'])-bal[k])>D('0.005'): print('bal',k,lc[k]['current_balance'],bal[k]); bad+=1
        want=lims.get(k, D(cards[k]['credit_limit']))
        if D(lc[k]['credit_limit'])!=want: print('lim',k,lc[k]['credit_limit'],want,cards[k]['credit_limit']); bad+=1
    for k in cust:
        if int(lu[k]['credit_score'])!=res[k][0]: print('score',k,lu[k]['credit_score'],res[k]); bad+=1
    print('bad',bad)
else:
    print(bal['1'])
if not legacy:
    od=os.environ.get('OUT','/tmp/refout')
    import os; os.makedirs(od,exist_ok=True)
    w=csv.writer(open(od+'/cards_updated.csv','w'))
    w.writerow(list(cards['1'].keys()))
    for k,c in cards.items():
        r=dict(c); r['current_balance']=str(bal[k]); r['credit_limit']=str(lims.get(k,D(c['credit_limit']))); w.writerow(r.values())
    w=csv.writer(open(od+'/customers_updated.csv','w'))
    w.writerow(list(cust['1'].keys()))
    for k,c in cust.items():
        r=dict(c); r['credit_score']=str(res[k][0]); w.writerow(r.values())
    for name,stmap in (('stream_transactions',{'pending':'pending','declined':'declined'}),('batch_transactions',{'pending':'approved','declined':'declined'})):
        w=csv.writer(open(od+f'/{name}.csv','w'))
        w.writerow(list(txs[0].keys())+['status','pending_balance'])
        for t,st,p in out_rows if False else []: pass
        for t,st,p in globals()['out']:
            w.writerow(list(t.values())+[stmap[st],str(p)])
