"""``crmqc audit``: the CRM rules over a folder of Bitrix24 REST exports, as CSV and a self-contained HTML report."""
