//! Listeners, routing, request info, content negotiation, errors → Status.
