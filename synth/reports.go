package synth

import (
	"strconv"
	"time"
)

// keyReports keeps the report rows' draws apart from the records' own.
const keyReports = 0x7265706f7274 // "report"

// reportRows writes the rows the report functions return for the phone
// legs of rec: each session of a phone participant (a dial-in through the
// mediationServer service) is one call to the meeting's audio-conferencing
// bridge, billed through a Calling Plan (a pstnCallLogRow of getPstnCalls,
// callType conf_in) or carried by the tenant's own SBC (a
// directRoutingLogRow of getDirectRoutingCalls), as Mix.DirectRoutingShare
// says. The rows match the sessions: the same times, the caller's number,
// the organizer as the user, and the record's id as the conference and
// correlation ids. Each row names its type with "@odata.type", so that
// callvault import reads it whatever file it is in.
func (g *gen) reportRows(index uint64, rec *record, pstn, direct *enc) (rows int) {
	r := newRNG(g.seed, keyReports, index)
	for _, s := range rec.sessions {
		if s.who == nil || s.who.kind != phone {
			continue
		}
		rows++
		dur := int64(s.end.Sub(s.start) / time.Second)
		failed := s.failure != nil && s.failure.stage == "callSetup"
		if r.chance(g.mix.DirectRoutingShare) {
			e := direct
			e.open("")
			e.odataType("directRoutingLogRow")
			e.str("id", r.uuid())
			e.str("correlationId", rec.id)
			e.str("userId", rec.organizer.id)
			e.optStr("userPrincipalName", rec.organizer.upn)
			e.optStr("userDisplayName", rec.organizer.name)
			invite := s.start.Add(-ticks(r.between(0.8, 4)))
			e.time("startDateTime", s.start)
			e.time("inviteDateTime", invite)
			if failed {
				e.time("failureDateTime", s.end)
			}
			e.time("endDateTime", s.end)
			e.int("duration", dur)
			e.str("callType", "ByotIn")
			e.boolean("successfulCall", !failed)
			e.str("callerNumber", s.who.id)
			e.str("calleeNumber", "+1425555"+r.digits(4))
			e.str("mediaPathLocation", pick(r, dataCenters))
			e.str("signalingLocation", pick(r, dataCenters))
			if failed {
				e.int("finalSipCode", 487)
				e.str("finalSipCodePhrase", "Request Terminated")
				e.int("callEndSubReason", 487)
			} else {
				e.int("finalSipCode", 0)
				e.str("finalSipCodePhrase", "BYE")
				e.int("callEndSubReason", 540000)
			}
			e.str("trunkFullyQualifiedDomainName", "sbc"+strconv.Itoa(1+r.IntN(3))+".contoso.com")
			e.boolean("mediaBypassEnabled", r.chance(0.3))
			e.close()
			e.b, e.comma = append(e.b, '\n'), false
			continue
		}
		e := pstn
		e.open("")
		e.odataType("pstnCallLogRow")
		e.str("id", r.uuid())
		e.str("callId", r.digits(10)+"_"+r.digits(9)+"@"+ipv4(52, 112+r.IntN(8), r.IntN(256), 1+r.IntN(254)))
		e.str("userId", rec.organizer.id)
		e.optStr("userPrincipalName", rec.organizer.upn)
		e.optStr("userDisplayName", rec.organizer.name)
		e.time("startDateTime", s.start)
		e.time("endDateTime", s.end)
		e.int("duration", dur)
		e.b = append(e.b, `,"charge":0.00`...)
		e.str("callType", "conf_in")
		e.str("currency", "USD")
		e.str("calleeNumber", "+1425555"+r.digits(4))
		e.str("usageCountryCode", "US")
		e.str("tenantCountryCode", "US")
		e.b = append(e.b, `,"connectionCharge":0.00`...)
		e.str("callerNumber", s.who.id)
		e.str("destinationContext", "Domestic")
		e.str("destinationName", "United States")
		e.str("conferenceId", rec.id)
		e.str("licenseCapability", "MCOMEETADV")
		e.str("inventoryType", "Toll")
		e.str("operator", "Microsoft")
		e.str("callDurationSource", "microsoft")
		e.close()
		e.b, e.comma = append(e.b, '\n'), false
	}
	return rows
}

// dataCenters are the Teams media and signalling locations of direct
// routing rows.
var dataCenters = []string{"USWE", "USEA", "EUNO", "EUWE", "APSE"}
