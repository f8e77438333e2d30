{% set edges = [0, 1, 16, 64, 256, 1024, 4096] %}

with field_values as (

    select * from {{ ref('int_field_values') }}

),

buckets as (

    select
        field,
        case
            {% for lower in edges -%}
            {% if not loop.last -%}
            when chars < {{ edges[loop.index] }} then {{ lower }}
            {% endif -%}
            {% endfor -%}
            else {{ edges[-1] }}
        end as chars_from
    from field_values

),

final as (

    select
        field,
        chars_from,
        case
            {% for lower in edges[:-1] -%}
            when chars_from = {{ lower }} then {{ edges[loop.index] }}
            {% endfor -%}
        end as chars_below,
        count(*) as rows
    from buckets
    group by field, chars_from

)

select * from final
