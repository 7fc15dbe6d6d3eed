"""The email door: reading inbound mail, guarding against auto-replies, and answering."""
