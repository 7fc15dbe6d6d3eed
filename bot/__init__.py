"""privacybot: answers privacy questions from CiemTech's Danish privacy policy."""

__version__ = "0.1.0"
