//! Telnet option negotiation by RFC 1143's "Q method": per option, a state
//! for each side that makes loops impossible (an answer is never answered,
//! a request already in effect is not acknowledged again). The terminal
//! works in the NVT's line mode: the client edits and echoes the line
//! locally; the only option it agrees to is Suppress Go-Ahead, on either
//! side. Every other option is refused.

use crate::protocol::{DO, DONT, IAC, WILL, WONT};

/// Suppress Go-Ahead (RFC 858).
pub const SUPPRESS_GO_AHEAD: u8 = 3;
/// Echo (RFC 857): refused, the client echoes its own line.
pub const ECHO: u8 = 1;

/// One side's state of one option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Q {
    #[default]
    No,
    Yes,
    /// We asked for it to be turned off; `opposite`: then asked for on again.
    WantNo {
        opposite: bool,
    },
    /// We asked for it to be turned on; `opposite`: then asked for off again.
    WantYes {
        opposite: bool,
    },
}

/// The negotiation state of every option.
#[derive(Debug)]
pub struct Negotiator {
    /// Options this side performs (answered to DO/DONT with WILL/WONT).
    us: [Q; 256],
    /// Options the client performs (answered to WILL/WONT with DO/DONT).
    him: [Q; 256],
}

impl Default for Negotiator {
    fn default() -> Self {
        Negotiator {
            us: [Q::No; 256],
            him: [Q::No; 256],
        }
    }
}

/// RFC 1143's rules for one side of one option, when the peer asks for it
/// on (`wants_on`) or off: the new state, and the answer to send (`Some(true)`
/// to agree to on, `Some(false)` to say off), if any.
fn answer(state: &mut Q, wants_on: bool, acceptable: bool) -> Option<bool> {
    let (next, reply) = match (*state, wants_on) {
        (Q::No, true) if acceptable => (Q::Yes, Some(true)),
        (Q::No, true) => (Q::No, Some(false)),
        (Q::Yes, true) => (Q::Yes, None),
        // An off answered with on: the peer is wrong; take it as off.
        (Q::WantNo { opposite: false }, true) => (Q::No, None),
        (Q::WantNo { opposite: true } | Q::WantYes { opposite: false }, true) => (Q::Yes, None),
        (Q::WantYes { opposite: true }, true) => (Q::WantNo { opposite: false }, Some(false)),
        (Q::No, false) => (Q::No, None),
        (Q::Yes, false) => (Q::No, Some(false)),
        (Q::WantNo { opposite: false } | Q::WantYes { .. }, false) => (Q::No, None),
        (Q::WantNo { opposite: true }, false) => (Q::WantYes { opposite: false }, Some(true)),
    };
    *state = next;
    reply
}

/// Whether this server agrees to perform `option` itself.
fn we_accept(option: u8) -> bool {
    option == SUPPRESS_GO_AHEAD
}

/// Whether this server agrees to the client performing `option`.
fn he_may(option: u8) -> bool {
    option == SUPPRESS_GO_AHEAD
}

impl Negotiator {
    /// Handles one received negotiation; returns the reply to send, if any.
    pub fn receive(&mut self, verb: u8, option: u8) -> Option<[u8; 3]> {
        let index = usize::from(option);
        // WILL/WONT are about the client's side, answered with DO/DONT;
        // DO/DONT about ours, answered with WILL/WONT.
        let (state, wants_on, acceptable, yes, no) = match verb {
            WILL => (&mut self.him[index], true, he_may(option), DO, DONT),
            WONT => (&mut self.him[index], false, he_may(option), DO, DONT),
            DO => (&mut self.us[index], true, we_accept(option), WILL, WONT),
            DONT => (&mut self.us[index], false, we_accept(option), WILL, WONT),
            _ => return None,
        };
        answer(state, wants_on, acceptable).map(|on| [IAC, if on { yes } else { no }, option])
    }

    /// Whether this side performs `option` now.
    pub fn we_do(&self, option: u8) -> bool {
        self.us[usize::from(option)] == Q::Yes
    }

    /// Whether the client performs `option` now.
    pub fn he_does(&self, option: u8) -> bool {
        self.him[usize::from(option)] == Q::Yes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TERMINAL_TYPE: u8 = 24;
    const LINEMODE: u8 = 34;

    #[test]
    fn suppress_go_ahead_is_accepted_on_both_sides() {
        let mut n = Negotiator::default();
        assert_eq!(
            n.receive(DO, SUPPRESS_GO_AHEAD),
            Some([IAC, WILL, SUPPRESS_GO_AHEAD])
        );
        assert_eq!(
            n.receive(WILL, SUPPRESS_GO_AHEAD),
            Some([IAC, DO, SUPPRESS_GO_AHEAD])
        );
        assert!(n.we_do(SUPPRESS_GO_AHEAD) && n.he_does(SUPPRESS_GO_AHEAD));
    }

    #[test]
    fn options_it_does_not_implement_are_refused() {
        let mut n = Negotiator::default();
        assert_eq!(
            n.receive(DO, ECHO),
            Some([IAC, WONT, ECHO]),
            "the client echoes its own line"
        );
        assert_eq!(
            n.receive(WILL, TERMINAL_TYPE),
            Some([IAC, DONT, TERMINAL_TYPE])
        );
        assert_eq!(n.receive(DO, LINEMODE), Some([IAC, WONT, LINEMODE]));
        assert!(!n.we_do(ECHO) && !n.he_does(TERMINAL_TYPE));
    }

    #[test]
    fn an_answer_is_never_answered_so_there_is_no_loop() {
        let mut n = Negotiator::default();
        // A refusal of something never asked for, and a repeat of what holds: silence.
        assert_eq!(n.receive(WONT, TERMINAL_TYPE), None);
        assert_eq!(n.receive(DONT, ECHO), None);
        n.receive(DO, SUPPRESS_GO_AHEAD);
        assert_eq!(
            n.receive(DO, SUPPRESS_GO_AHEAD),
            None,
            "already on: no second WILL"
        );
        // Turning an enabled option off is acknowledged once, then silence.
        assert_eq!(
            n.receive(DONT, SUPPRESS_GO_AHEAD),
            Some([IAC, WONT, SUPPRESS_GO_AHEAD])
        );
        assert_eq!(n.receive(DONT, SUPPRESS_GO_AHEAD), None);
        assert!(!n.we_do(SUPPRESS_GO_AHEAD));
    }

    #[test]
    fn a_peer_bouncing_between_on_and_off_gets_one_answer_per_change() {
        let mut n = Negotiator::default();
        let mut replies = 0;
        for _ in 0..1000 {
            replies += n.receive(WILL, SUPPRESS_GO_AHEAD).is_some() as usize;
            replies += n.receive(WONT, SUPPRESS_GO_AHEAD).is_some() as usize;
        }
        assert_eq!(
            replies, 2000,
            "each real change of state is answered exactly once"
        );
        let mut quiet = 0;
        for _ in 0..1000 {
            quiet += n.receive(WONT, SUPPRESS_GO_AHEAD).is_some() as usize;
        }
        assert_eq!(quiet, 0);
    }

    #[test]
    fn pending_requests_follow_rfc_1143() {
        let mut n = Negotiator::default();
        n.him[usize::from(SUPPRESS_GO_AHEAD)] = Q::WantYes { opposite: false };
        assert_eq!(
            n.receive(WILL, SUPPRESS_GO_AHEAD),
            None,
            "the WILL answers our DO"
        );
        assert!(n.he_does(SUPPRESS_GO_AHEAD));
        n.him[usize::from(SUPPRESS_GO_AHEAD)] = Q::WantYes { opposite: true };
        assert_eq!(
            n.receive(WILL, SUPPRESS_GO_AHEAD),
            Some([IAC, DONT, SUPPRESS_GO_AHEAD]),
            "we changed our mind meanwhile"
        );
        n.us[usize::from(ECHO)] = Q::WantNo { opposite: true };
        assert_eq!(n.receive(DONT, ECHO), Some([IAC, WILL, ECHO]));
    }
}
