"""Dates as Indonesian readers write them: "7 Desember 2026", "7 Desember 2026, 20.03" (a dot
between hours and minutes); Django's own Indonesian formats abbreviate the month."""

DATE_FORMAT = "j F Y"
DATETIME_FORMAT = "j F Y, H.i"
SHORT_DATE_FORMAT = "d-m-Y"
SHORT_DATETIME_FORMAT = "d-m-Y H.i"
