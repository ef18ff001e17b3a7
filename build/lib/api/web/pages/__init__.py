"""Server-rendered pages for requesters, approvers and the AIMS owner, one module per page.
They call the same `UseCaseService` as the REST API: no second copy of any rule."""

from fastapi import APIRouter

from api.web.pages import (
    admin_users,
    approvals,
    assessment,
    dashboard,
    intake,
    nonconformities,
    notification_settings,
    register,
    reports,
    sign_in,
    soa,
    stalled,
    use_case,
)

router = APIRouter(include_in_schema=False)
for page in (
    sign_in, dashboard, register, intake, use_case, assessment, approvals, stalled, soa, nonconformities, reports,
    admin_users, notification_settings,
):
    router.include_router(page.router)
