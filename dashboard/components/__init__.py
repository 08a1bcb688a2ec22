"""What pages put on screen: tables, charts, cards and sections, and the words and times in them."""
