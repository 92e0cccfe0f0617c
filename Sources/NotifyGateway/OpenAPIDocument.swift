/// docs/openapi.yaml, served at `/openapi.yaml`.
///
/// Embedded rather than shipped as a resource so that the binary needs no
/// bundle beside it; `OpenAPITests` fails when it differs from the file, so
/// edit docs/openapi.yaml and paste it here.
enum OpenAPIDocument {
    static let yaml = ##"""
openapi: 3.0.3
info:
  title: notify REST gateway
  version: "1.0"
  description: >-
    The REST gateway of notify: SelfCommunity's Create Custom notification and Microsoft Graph's
    Create and send a notification, each turned into one RPC call to the notify service.
    docs/GATEWAY.md explains every status. Graph's error table says 200 on success where its
    response section says 201; the gateway answers 201.
servers:
  - url: http://127.0.0.1:8080
security:
  - bearer: []
paths:
  /api/v2/notification/notify/:
    post:
      operationId: notify0
      summary: SelfCommunity Create Custom notification (the Notify RPC)
      tags: [selfcommunity]
      requestBody:
        $ref: '#/components/requestBodies/Notify'
      responses:
        '204':
          description: The notification was stored and addressed.
        '400':
          $ref: '#/components/responses/SCBadRequest'
        '401':
          $ref: '#/components/responses/SCUnauthorized'
        '403':
          $ref: '#/components/responses/SCError'
        '405':
          $ref: '#/components/responses/SCMethodNotAllowed'
        '408':
          $ref: '#/components/responses/SCError'
        '409':
          $ref: '#/components/responses/SCError'
        '413':
          $ref: '#/components/responses/SCError'
        '415':
          $ref: '#/components/responses/SCError'
        '429':
          $ref: '#/components/responses/SCThrottled'
        '500':
          $ref: '#/components/responses/SCError'
        '503':
          $ref: '#/components/responses/SCError'
        '504':
          $ref: '#/components/responses/SCError'
  /api/v2/notification/notify:
    post:
      operationId: notify1
      summary: SelfCommunity Create Custom notification (the Notify RPC)
      tags: [selfcommunity]
      requestBody:
        $ref: '#/components/requestBodies/Notify'
      responses:
        '204':
          description: The notification was stored and addressed.
        '400':
          $ref: '#/components/responses/SCBadRequest'
        '401':
          $ref: '#/components/responses/SCUnauthorized'
        '403':
          $ref: '#/components/responses/SCError'
        '405':
          $ref: '#/components/responses/SCMethodNotAllowed'
        '408':
          $ref: '#/components/responses/SCError'
        '409':
          $ref: '#/components/responses/SCError'
        '413':
          $ref: '#/components/responses/SCError'
        '415':
          $ref: '#/components/responses/SCError'
        '429':
          $ref: '#/components/responses/SCThrottled'
        '500':
          $ref: '#/components/responses/SCError'
        '503':
          $ref: '#/components/responses/SCError'
        '504':
          $ref: '#/components/responses/SCError'
  /me/notifications/:
    post:
      operationId: sendNotification0
      summary: Graph Create and send a notification (the SendNotification RPC)
      tags: [graph]
      parameters:
        - $ref: '#/components/parameters/UNSID'
        - $ref: '#/components/parameters/ClientRequestID'
      requestBody:
        $ref: '#/components/requestBodies/GraphNotification'
      responses:
        '201':
          $ref: '#/components/responses/GraphCreated'
        '400':
          $ref: '#/components/responses/GraphError'
        '401':
          $ref: '#/components/responses/GraphUnauthorized'
        '403':
          $ref: '#/components/responses/GraphError'
        '404':
          $ref: '#/components/responses/GraphError'
        '405':
          $ref: '#/components/responses/GraphMethodNotAllowed'
        '406':
          $ref: '#/components/responses/GraphThrottled'
        '408':
          $ref: '#/components/responses/GraphError'
        '409':
          $ref: '#/components/responses/GraphError'
        '413':
          $ref: '#/components/responses/GraphError'
        '415':
          $ref: '#/components/responses/GraphError'
        '500':
          $ref: '#/components/responses/GraphError'
        '503':
          $ref: '#/components/responses/GraphError'
        '504':
          $ref: '#/components/responses/GraphError'
  /me/notifications:
    post:
      operationId: sendNotification1
      summary: Graph Create and send a notification (the SendNotification RPC)
      tags: [graph]
      parameters:
        - $ref: '#/components/parameters/UNSID'
        - $ref: '#/components/parameters/ClientRequestID'
      requestBody:
        $ref: '#/components/requestBodies/GraphNotification'
      responses:
        '201':
          $ref: '#/components/responses/GraphCreated'
        '400':
          $ref: '#/components/responses/GraphError'
        '401':
          $ref: '#/components/responses/GraphUnauthorized'
        '403':
          $ref: '#/components/responses/GraphError'
        '404':
          $ref: '#/components/responses/GraphError'
        '405':
          $ref: '#/components/responses/GraphMethodNotAllowed'
        '406':
          $ref: '#/components/responses/GraphThrottled'
        '408':
          $ref: '#/components/responses/GraphError'
        '409':
          $ref: '#/components/responses/GraphError'
        '413':
          $ref: '#/components/responses/GraphError'
        '415':
          $ref: '#/components/responses/GraphError'
        '500':
          $ref: '#/components/responses/GraphError'
        '503':
          $ref: '#/components/responses/GraphError'
        '504':
          $ref: '#/components/responses/GraphError'
  /beta/me/notifications/:
    post:
      operationId: sendNotification2
      summary: Graph Create and send a notification (the SendNotification RPC)
      tags: [graph]
      parameters:
        - $ref: '#/components/parameters/UNSID'
        - $ref: '#/components/parameters/ClientRequestID'
      requestBody:
        $ref: '#/components/requestBodies/GraphNotification'
      responses:
        '201':
          $ref: '#/components/responses/GraphCreated'
        '400':
          $ref: '#/components/responses/GraphError'
        '401':
          $ref: '#/components/responses/GraphUnauthorized'
        '403':
          $ref: '#/components/responses/GraphError'
        '404':
          $ref: '#/components/responses/GraphError'
        '405':
          $ref: '#/components/responses/GraphMethodNotAllowed'
        '406':
          $ref: '#/components/responses/GraphThrottled'
        '408':
          $ref: '#/components/responses/GraphError'
        '409':
          $ref: '#/components/responses/GraphError'
        '413':
          $ref: '#/components/responses/GraphError'
        '415':
          $ref: '#/components/responses/GraphError'
        '500':
          $ref: '#/components/responses/GraphError'
        '503':
          $ref: '#/components/responses/GraphError'
        '504':
          $ref: '#/components/responses/GraphError'
  /beta/me/notifications:
    post:
      operationId: sendNotification3
      summary: Graph Create and send a notification (the SendNotification RPC)
      tags: [graph]
      parameters:
        - $ref: '#/components/parameters/UNSID'
        - $ref: '#/components/parameters/ClientRequestID'
      requestBody:
        $ref: '#/components/requestBodies/GraphNotification'
      responses:
        '201':
          $ref: '#/components/responses/GraphCreated'
        '400':
          $ref: '#/components/responses/GraphError'
        '401':
          $ref: '#/components/responses/GraphUnauthorized'
        '403':
          $ref: '#/components/responses/GraphError'
        '404':
          $ref: '#/components/responses/GraphError'
        '405':
          $ref: '#/components/responses/GraphMethodNotAllowed'
        '406':
          $ref: '#/components/responses/GraphThrottled'
        '408':
          $ref: '#/components/responses/GraphError'
        '409':
          $ref: '#/components/responses/GraphError'
        '413':
          $ref: '#/components/responses/GraphError'
        '415':
          $ref: '#/components/responses/GraphError'
        '500':
          $ref: '#/components/responses/GraphError'
        '503':
          $ref: '#/components/responses/GraphError'
        '504':
          $ref: '#/components/responses/GraphError'
  /v1.0/me/notifications/:
    post:
      operationId: sendNotification4
      summary: Graph Create and send a notification (the SendNotification RPC)
      tags: [graph]
      parameters:
        - $ref: '#/components/parameters/UNSID'
        - $ref: '#/components/parameters/ClientRequestID'
      requestBody:
        $ref: '#/components/requestBodies/GraphNotification'
      responses:
        '201':
          $ref: '#/components/responses/GraphCreated'
        '400':
          $ref: '#/components/responses/GraphError'
        '401':
          $ref: '#/components/responses/GraphUnauthorized'
        '403':
          $ref: '#/components/responses/GraphError'
        '404':
          $ref: '#/components/responses/GraphError'
        '405':
          $ref: '#/components/responses/GraphMethodNotAllowed'
        '406':
          $ref: '#/components/responses/GraphThrottled'
        '408':
          $ref: '#/components/responses/GraphError'
        '409':
          $ref: '#/components/responses/GraphError'
        '413':
          $ref: '#/components/responses/GraphError'
        '415':
          $ref: '#/components/responses/GraphError'
        '500':
          $ref: '#/components/responses/GraphError'
        '503':
          $ref: '#/components/responses/GraphError'
        '504':
          $ref: '#/components/responses/GraphError'
  /v1.0/me/notifications:
    post:
      operationId: sendNotification5
      summary: Graph Create and send a notification (the SendNotification RPC)
      tags: [graph]
      parameters:
        - $ref: '#/components/parameters/UNSID'
        - $ref: '#/components/parameters/ClientRequestID'
      requestBody:
        $ref: '#/components/requestBodies/GraphNotification'
      responses:
        '201':
          $ref: '#/components/responses/GraphCreated'
        '400':
          $ref: '#/components/responses/GraphError'
        '401':
          $ref: '#/components/responses/GraphUnauthorized'
        '403':
          $ref: '#/components/responses/GraphError'
        '404':
          $ref: '#/components/responses/GraphError'
        '405':
          $ref: '#/components/responses/GraphMethodNotAllowed'
        '406':
          $ref: '#/components/responses/GraphThrottled'
        '408':
          $ref: '#/components/responses/GraphError'
        '409':
          $ref: '#/components/responses/GraphError'
        '413':
          $ref: '#/components/responses/GraphError'
        '415':
          $ref: '#/components/responses/GraphError'
        '500':
          $ref: '#/components/responses/GraphError'
        '503':
          $ref: '#/components/responses/GraphError'
        '504':
          $ref: '#/components/responses/GraphError'
  /feed/events:
    get:
      operationId: feedEvents
      summary: A user's feed as server-sent events (the FeedService/Watch RPC)
      description: >-
        The feed after the cursor, then each notification as it is stored, as text/event-stream.
        Each `notification` event carries one feed entry with its sequence as the event id; one
        `live` event follows the first page that reaches the end of the feed; an `error` event ends
        a stream the service or the gateway ended. A reconnecting EventSource sends Last-Event-ID,
        which takes the place of `after`. The body never ends while the feed is read, so
        request/response checkers exclude this operation; docs/GATEWAY.md has the details.
      tags: [feed]
      parameters:
        - name: user
          in: query
          required: true
          schema:
            type: integer
            format: int64
        - name: after
          in: query
          required: false
          description: Only entries with a greater sequence. Default 0.
          schema:
            type: integer
            format: int64
            minimum: 0
        - name: limit
          in: query
          required: false
          description: Entries per page read from the feed. Default 100.
          schema:
            type: integer
            minimum: 1
            maximum: 1000
        - name: Last-Event-ID
          in: header
          required: false
          description: The id of the last event read; overrides `after`.
          schema:
            type: string
            pattern: '^[0-9]+$'
      responses:
        '200':
          description: The event stream, chunked, until the stream ends; then the connection closes.
          content:
            text/event-stream:
              schema:
                type: string
        '400':
          $ref: '#/components/responses/GraphError'
        '401':
          $ref: '#/components/responses/GraphError'
        '403':
          $ref: '#/components/responses/GraphError'
        '406':
          $ref: '#/components/responses/GraphError'
        '500':
          $ref: '#/components/responses/GraphError'
        '503':
          $ref: '#/components/responses/GraphError'
        '504':
          $ref: '#/components/responses/GraphError'
  /healthz:
    get:
      operationId: healthz
      summary: Liveness of the gateway process
      tags: [gateway]
      security: []
      responses:
        '200':
          description: The gateway runs.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Health'
  /readyz:
    get:
      operationId: readyz
      summary: Readiness - the RPC service is not draining and its store can write (health service notify.v1.Readiness)
      tags: [gateway]
      security: []
      responses:
        '200':
          description: The RPC service is reachable and serving.
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Health'
        '503':
          $ref: '#/components/responses/GraphError'
        '504':
          $ref: '#/components/responses/GraphError'
  /openapi.yaml:
    get:
      operationId: openapi
      summary: This document
      tags: [gateway]
      security: []
      responses:
        '200':
          description: The OpenAPI document of the gateway.
          content:
            application/yaml: {}
components:
  securitySchemes:
    bearer:
      type: http
      scheme: bearer
      description: A token from `notifyd admin token create` (Notify needs the admin role).
  parameters:
    UNSID:
      name: X-UNS-ID
      in: header
      required: true
      description: The subscription (UserNotificationSubscriptionId) that names the target user.
      schema:
        type: string
        minLength: 1
        maxLength: 200
    ClientRequestID:
      name: client-request-id
      in: header
      required: false
      description: Echoed in the response's client-request-id header; the gateway makes one when absent.
      schema:
        type: string
        pattern: '^[!-~]{1,128}$'
  requestBodies:
    Notify:
      required: true
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/NotifyBody'
        application/x-www-form-urlencoded:
          schema:
            $ref: '#/components/schemas/NotifyForm'
    GraphNotification:
      required: true
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/GraphNotification'
  headers:
    RequestID:
      description: The gateway's id of the request (also in the logs).
      schema:
        type: string
    ClientRequestID:
      description: The client's client-request-id, or a new one.
      schema:
        type: string
    RetryAfter:
      description: Seconds to wait before retrying.
      schema:
        type: string
    Allow:
      description: The methods the path answers.
      schema:
        type: string
  responses:
    SCError:
      description: An error in SelfCommunity's shape.
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/SCErrors'
    SCBadRequest:
      description: Invalid fields (one entry per field) or an unreadable body.
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/SCErrors'
    SCUnauthorized:
      description: No token, or one that is not valid.
      headers:
        WWW-Authenticate:
          schema:
            type: string
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/SCErrors'
    SCMethodNotAllowed:
      description: Only POST is served.
      headers:
        Allow:
          $ref: '#/components/headers/Allow'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/SCErrors'
    SCThrottled:
      description: The caller is throttled or the service is busy.
      headers:
        Retry-After:
          $ref: '#/components/headers/RetryAfter'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/SCErrors'
    GraphCreated:
      description: The notification was created and stored.
      headers:
        Location:
          schema:
            type: string
        request-id:
          $ref: '#/components/headers/RequestID'
        client-request-id:
          $ref: '#/components/headers/ClientRequestID'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/GraphEntity'
    GraphError:
      description: An error in Graph's shape.
      headers:
        request-id:
          $ref: '#/components/headers/RequestID'
        client-request-id:
          $ref: '#/components/headers/ClientRequestID'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/GraphError'
    GraphUnauthorized:
      description: No token, or one that is not valid.
      headers:
        WWW-Authenticate:
          schema:
            type: string
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/GraphError'
    GraphMethodNotAllowed:
      description: Only POST is served.
      headers:
        Allow:
          $ref: '#/components/headers/Allow'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/GraphError'
    GraphThrottled:
      description: Throttled, or the service is busy.
      headers:
        Retry-After:
          $ref: '#/components/headers/RetryAfter'
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/GraphError'
  schemas:
    NotifyBody:
      type: object
      required: [type, title, description, user]
      properties:
        recipients_type:
          type: string
          enum: [connections, user]
          default: connections
        type:
          type: string
          minLength: 1
          maxLength: 100
        embed:
          $ref: '#/components/schemas/Embed'
        title:
          type: string
          nullable: true
          maxLength: 255
        description:
          type: string
          nullable: true
          maxLength: 4096
        user:
          type: integer
          format: int64
          minimum: 1
    NotifyForm:
      type: object
      required: [type, title, description, user]
      properties:
        recipients_type:
          type: string
          enum: [connections, user]
        type:
          type: string
          minLength: 1
          maxLength: 100
        embed:
          type: string
          description: The Embed object as JSON text.
        title:
          type: string
          maxLength: 255
        description:
          type: string
          maxLength: 4096
        user:
          type: integer
          format: int64
          minimum: 1
    Embed:
      type: object
      required: [embed_type, embed_id]
      properties:
        embed_type:
          type: string
          minLength: 1
          maxLength: 255
        embed_id:
          type: string
          minLength: 1
          maxLength: 255
        url:
          type: string
          format: uri
          maxLength: 2048
        metadata:
          description: A JSON object, or a string holding one (as the seed's example sends it).
          oneOf:
            - type: object
            - type: string
    GraphNotification:
      type: object
      required: [payload]
      properties:
        targetHostName:
          type: string
          maxLength: 253
        appNotificationId:
          type: string
          maxLength: 255
        expirationDateTime:
          type: string
          format: date-time
          description: RFC 3339, in the future, at most 30 days ahead; default now + 7 days.
        payload:
          $ref: '#/components/schemas/Payload'
        targetPolicy:
          type: object
          properties:
            platformTypes:
              type: array
              maxItems: 16
              items:
                type: string
                enum: [windows, ios, android, webPush]
        fallbackPolicy:
          type: object
          description: Only with ios among the platform types.
        priority:
          type: string
          enum: [None, High, Low]
        groupName:
          type: string
          maxLength: 255
        displayTimeToLive:
          description: Seconds, as a number or a string of digits.
          oneOf:
            - type: integer
              minimum: 0
              maximum: 2592000
            - type: string
              pattern: '^[0-9]{1,7}$'
    Payload:
      type: object
      description: rawContent, visualContent, or both.
      properties:
        rawContent:
          type: string
          minLength: 1
        visualContent:
          type: object
          required: [title]
          properties:
            title:
              type: string
              minLength: 1
              maxLength: 255
            body:
              type: string
              maxLength: 4096
    GraphEntity:
      type: object
      required: ['@odata.context', id, payload, priority, expirationDateTime, displayTimeToLive]
      properties:
        '@odata.context':
          type: string
        id:
          type: string
        payload:
          $ref: '#/components/schemas/Payload'
        priority:
          type: string
          enum: [None, High, Low]
        groupName:
          type: string
          nullable: true
        expirationDateTime:
          type: string
          format: date-time
        displayTimeToLive:
          type: integer
    SCErrors:
      type: object
      required: [errors]
      properties:
        errors:
          type: array
          minItems: 1
          items:
            oneOf:
              - $ref: '#/components/schemas/SCFieldError'
              - $ref: '#/components/schemas/SCCodeError'
    SCFieldError:
      type: object
      required: [field, messages]
      additionalProperties: false
      properties:
        field:
          type: string
        messages:
          type: array
          items:
            type: string
    SCCodeError:
      type: object
      required: [code, message]
      additionalProperties: false
      properties:
        code:
          type: string
        message:
          type: string
    GraphError:
      type: object
      required: [error]
      properties:
        error:
          type: object
          required: [code, message, innerError]
          properties:
            code:
              type: string
            message:
              type: string
            details:
              type: array
              items:
                type: object
                required: [code, message, target]
                properties:
                  code:
                    type: string
                  message:
                    type: string
                  target:
                    type: string
            innerError:
              type: object
              required: [request-id, date, client-request-id]
              properties:
                request-id:
                  type: string
                date:
                  type: string
                client-request-id:
                  type: string
    Health:
      type: object
      required: [status]
      properties:
        status:
          type: string
        upstream:
          type: string

"""##
}
