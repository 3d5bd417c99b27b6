"""The CRM rules of the sales department's regulation, as pure functions over plain records.

Importing this package pulls in neither scikit-learn nor FastAPI: comments are judged by a
callable passed in (the service passes ``CommentChecker.classify_many``).
"""

from .bitrix import BitrixFormatError
from .contacts import ContactCheck, check_contact
from .deals import DealDecision, evaluate_deal
from .duplicates import ContactGroup, DealGroup, find_contact_duplicates, find_deal_duplicates
from .leads import ConversionDecision, check_conversion
from .records import Contact, Deal, History, Judge, Lead, Violation
from .settings import CrmSettings, CrmSettingsError, load_settings
from .touches import Touch

__all__ = [
    "BitrixFormatError", "Contact", "ContactCheck", "ContactGroup", "ConversionDecision", "CrmSettings",
    "CrmSettingsError", "Deal", "DealDecision", "DealGroup", "History", "Judge", "Lead", "Touch", "Violation",
    "check_contact", "check_conversion", "evaluate_deal", "find_contact_duplicates", "find_deal_duplicates",
    "load_settings",
]
